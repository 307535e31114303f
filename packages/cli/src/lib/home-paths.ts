/**
 * `bot-bottle exec SLUG -- cat ~/work.txt` reaches us as `cat /root/work.txt`:
 * the user's shell expanded `~` to *their* home before we ran. Inside the
 * bottle the user almost always meant the agent's home, so arguments that
 * start with the host home are mapped onto the bottle's home.
 */
export function startsWithHome(arg: string, hostHome: string): boolean {
  return hostHome.length > 1 && (arg === hostHome || arg.startsWith(`${hostHome}/`));
}

export function mapHostHome(argv: readonly string[], hostHome: string, bottleHome: string): string[] {
  return argv.map((arg) => (startsWithHome(arg, hostHome) ? bottleHome + arg.slice(hostHome.length) : arg));
}
