import { describe, expect, it } from 'vitest';
import { BotBottleError, ProcessError, formatCommand, run, runCapture, tailLines } from '../src/index.js';

describe('tailLines', () => {
  it('returns the last n lines, ignoring the final newline', () => {
    expect(tailLines('a\nb\nc\n', 2)).toBe('b\nc');
    expect(tailLines('a\nb', 5)).toBe('a\nb');
    expect(tailLines('', 3)).toBe('');
    expect(tailLines('a\nb', 0)).toBe('');
  });
});

describe('formatCommand', () => {
  it('quotes only what a shell would need quoted', () => {
    expect(formatCommand(['docker', 'run', '--name', 'bot-bottle-x', 'sh', '-c', "echo 'hi' there"])).toBe(
      `docker run --name bot-bottle-x sh -c 'echo '\\''hi'\\'' there'`,
    );
  });
});

describe('run', () => {
  it('captures output exactly as printed', async () => {
    const result = await run(['sh', '-c', 'printf "out\\n"; printf "err\\n" >&2']);
    expect(result).toEqual({ exitCode: 0, stdout: 'out\n', stderr: 'err\n' });
  });

  it('feeds input to stdin', async () => {
    expect((await run(['cat'], { input: 'piped text' })).stdout).toBe('piped text');
  });

  it('closes stdin when there is no input, so readers do not hang', async () => {
    expect((await run(['cat'])).stdout).toBe('');
  });

  it('merges env onto the current environment', async () => {
    const result = await run(['sh', '-c', 'printf "%s %s" "$BB_TEST_VALUE" "${PATH:+has-path}"'], {
      env: { BB_TEST_VALUE: 'set' },
    });
    expect(result.stdout).toBe('set has-path');
  });

  it('runs in cwd', async () => {
    expect((await run(['pwd'], { cwd: '/' })).stdout).toBe('/\n');
  });

  it('throws a ProcessError with the command, exit code and stderr tail', async () => {
    const script = 'for i in $(seq 1 30); do echo "line $i" >&2; done; exit 3';
    const error = await run(['sh', '-c', script]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProcessError);
    const processError = error as ProcessError;
    expect(processError.exitCode).toBe(3);
    expect(processError.argv).toEqual(['sh', '-c', script]);
    expect(processError.stderr).toContain('line 1\n');
    expect(processError.message).toContain('exit code 3');
    expect(processError.message).toContain('sh -c');
    expect(processError.message).toContain('line 30');
    expect(processError.message).toContain('line 11');
    expect(processError.message).not.toContain('line 10\n');
  });

  it('accepts exit codes listed in okExitCodes', async () => {
    expect((await run(['sh', '-c', 'exit 1'], { okExitCodes: [1] })).exitCode).toBe(1);
  });

  it('says which command is not on PATH', async () => {
    const error = await run(['bot-bottle-no-such-command', '--version']).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BotBottleError);
    expect(error).not.toBeInstanceOf(ProcessError);
    expect((error as Error).message).toContain('`bot-bottle-no-such-command` is not on PATH');
  });

  it('tells a missing working directory apart from a missing command', async () => {
    const error = await run(['pwd'], { cwd: '/no/such/directory' }).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain('working directory /no/such/directory does not exist');
  });

  it('rejects with an AbortError when the signal fires', async () => {
    const controller = new AbortController();
    const pending = run(['sleep', '30'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const error = await pending.catch((caught: unknown) => caught);
    expect((error as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not start a command when the signal already fired', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await run(['sh', '-c', 'exit 0'], { signal: controller.signal }).catch((caught: unknown) => caught);
    expect((error as Error).name).toBe('AbortError');
  });

  it('fails on timeout', async () => {
    const error = await run(['sleep', '30'], { timeoutMs: 100 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProcessError);
    expect((error as Error).message).toContain('timed out after 100 ms');
  });

  it('reports a signal death as 128 + the signal number', async () => {
    const error = await run(['sh', '-c', 'kill -TERM $$']).catch((caught: unknown) => caught);
    expect((error as ProcessError).exitCode).toBe(143);
    expect((error as Error).message).toContain('SIGTERM');
  });
});

describe('runCapture', () => {
  it('never throws for an exit code', async () => {
    expect(await runCapture(['sh', '-c', 'echo no >&2; exit 7'])).toEqual({ exitCode: 7, stdout: '', stderr: 'no\n' });
  });

  it('still throws for a missing command', async () => {
    await expect(runCapture(['bot-bottle-no-such-command'])).rejects.toThrow(/not on PATH/);
  });

  it('leaves output empty when it is not piped', async () => {
    expect(await runCapture(['sh', '-c', 'echo hidden'], { stdout: 'ignore' })).toEqual({ exitCode: 0, stdout: '', stderr: '' });
  });
});
