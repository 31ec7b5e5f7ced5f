import { readFileSync } from 'node:fs';

function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "pid (comm) ": state is field 3; utime, stime, cutime, cstime are 14–17.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU time (user + system) a process has used so far, in seconds, from
 * /proc/<pid>/stat; undefined off Linux or once it has exited. Used to show
 * how busy the server process was during an HTTP measurement, and to keep it
 * out of the "other processes" share (lib/interference.ts).
 */
export function processCpuSeconds(pid: number, ticksPerSecond = 100): number | undefined {
  try {
    const fields = statFields(pid);
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system) of this process's children that have exited and
 * been reaped, in seconds (cutime + cstime of /proc/self/stat); undefined off
 * Linux. The difference across one wrk run is wrk's CPU: the server child is
 * still running then, so nothing else is reaped meanwhile.
 */
export function reapedChildrenCpuSeconds(ticksPerSecond = 100): number | undefined {
  try {
    const fields = statFields('self');
    return (Number(fields[13]) + Number(fields[14])) / ticksPerSecond;
  } catch {
    return undefined;
  }
}
