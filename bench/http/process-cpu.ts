import { readdirSync, readFileSync } from 'node:fs';

function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "pid (comm) ": state is field 3; utime, stime, cutime, cstime are 14–17.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * The live children of a process: the union of /proc/<pid>/task/<tid>/children
 * over its threads, since a child is listed under the thread that forked it
 * (proc(5); Node forks from the main thread, but nothing guarantees that).
 */
function childPids(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return children; // exited meanwhile
  }
  for (const tid of tasks) {
    let list: string;
    try {
      list = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const child of list.trim().split(' ')) if (child !== '') children.push(Number(child));
  }
  return children;
}

/**
 * CPU time (user + system) of a process and all its descendants so far, in
 * seconds; undefined off Linux or once `pid` has exited. This is the server's
 * CPU in an HTTP measurement: for `chatkeep serve --workers N`, the primary
 * plus its N cluster workers (children found recursively through
 * /proc/<pid>/task/<tid>/children, which needs a kernel with
 * CONFIG_PROC_CHILDREN, as Debian's and Ubuntu's have); for the single server
 * process, that process alone. It is what run.ts keeps out of the "other
 * processes" share (lib/interference.ts), so that workers do not count as
 * other.
 *
 * Each process counts utime + stime plus cutime + cstime (its children that
 * exited and were reaped): a worker that dies between two readings moves its
 * time into its parent's cutime instead of vanishing, so the total never goes
 * backwards. While nothing exits, cutime and cstime add nothing.
 */
export function processTreeCpuSeconds(pid: number, ticksPerSecond = 100): number | undefined {
  let ticks: number;
  try {
    ticks = ticksOf(statFields(pid));
  } catch {
    return undefined;
  }
  const seen = new Set([pid]);
  const queue = childPids(pid);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (seen.has(next)) continue;
    seen.add(next);
    try {
      ticks += ticksOf(statFields(next));
    } catch {
      continue; // exited meanwhile; once reaped, its time is in its parent's cutime
    }
    queue.push(...childPids(next));
  }
  return ticks / ticksPerSecond;
}

function ticksOf(fields: readonly string[]): number {
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
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
