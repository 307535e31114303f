// Pure logic of the docker Freezer; the commit itself is tested on a real engine (*.e2e.test.ts).
import { describe, expect, it } from 'vitest';
import { restoreImageEnv } from '../src/freezer.js';

const IMAGE_ENV = ['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/home/node'];

describe('restoreImageEnv', () => {
  it('blanks what launch added and keeps the image values', () => {
    const container = [...IMAGE_ENV, 'HTTP_PROXY=http://sidecar:3128', 'no_proxy=localhost', 'NODE_EXTRA_CA_CERTS=/etc/bot-bottle/ca.pem'];
    expect(restoreImageEnv(container, IMAGE_ENV)).toBe('ENV HTTP_PROXY="" no_proxy="" NODE_EXTRA_CA_CERTS=""');
  });

  it('puts back a value launch replaced, literally', () => {
    const image = [...IMAGE_ENV, 'PRICE=$5 "each"'];
    expect(restoreImageEnv([...IMAGE_ENV, 'PRICE=0'], image)).toBe('ENV PRICE="\\$5 \\"each\\""');
  });

  it('changes nothing when the container runs with the image environment', () => {
    expect(restoreImageEnv(IMAGE_ENV, IMAGE_ENV)).toBeUndefined();
    expect(restoreImageEnv([...IMAGE_ENV, 'HTTP_PROXY='], [...IMAGE_ENV, 'HTTP_PROXY='])).toBeUndefined();
  });
});
