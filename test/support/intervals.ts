/** Time intervals of jobs, for checking how many ran at once. */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

/** The most intervals that overlap at any instant (an end and a start at the same instant do not). */
export function maxOverlap(intervals: readonly Interval[]): number {
  const points = intervals.flatMap((i) => [
    { t: i.start, d: 1 },
    { t: i.end, d: -1 },
  ]);
  points.sort((a, b) => a.t - b.t || a.d - b.d);
  let current = 0;
  let max = 0;
  for (const p of points) {
    current += p.d;
    max = Math.max(max, current);
  }
  return max;
}
