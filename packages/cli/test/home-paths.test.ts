import { describe, expect, it } from 'vitest';
import { mapHostHome, startsWithHome } from '../src/lib/home-paths.js';

describe('mapping the host home onto the bottle home', () => {
  it('maps arguments the shell expanded from ~', () => {
    expect(mapHostHome(['cat', '/root/work.txt'], '/root', '/home/node')).toEqual(['cat', '/home/node/work.txt']);
    expect(mapHostHome(['ls', '/root'], '/root', '/home/node')).toEqual(['ls', '/home/node']);
  });

  it('leaves everything else alone', () => {
    expect(mapHostHome(['cat', '/rootfs/x', 'root/x', '--file=/root/x'], '/root', '/home/node')).toEqual([
      'cat',
      '/rootfs/x',
      'root/x',
      '--file=/root/x',
    ]);
    expect(startsWithHome('/anything', '/')).toBe(false);
  });
});
