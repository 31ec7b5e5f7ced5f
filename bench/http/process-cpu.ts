import { readFileSync } from 'node:fs';

/**
 * CPU time (user + system) a process has used so far, in seconds, from
 * /proc/<pid>/stat; undefined off Linux or once it has exited. Used to show
 * how busy the server process was during an HTTP measurement, and to keep it
 * out of the "other processes" share (lib/interference.ts).
 */
export function processCpuSeconds(pid: number, ticksPerSecond = 100): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after "pid (comm) ": state is field 3; utime and stime are 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return undefined;
  }
}
