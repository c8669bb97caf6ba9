/** Bytes in a human unit (decimal, as throughput is usually quoted). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/**
 * A one-line progress display for long runs on a terminal (bytes and rate, redrawn at most twice
 * a second); silent when the stream is not a TTY, so logs and pipes stay clean.
 */
export function progressLine(stream: NodeJS.WriteStream = process.stderr, enabled = stream.isTTY === true) {
  const started = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(label: string, bytes: number, total?: number): void {
      if (!enabled) return;
      const now = Date.now();
      if (now - last < 500) return;
      last = now;
      const rate = bytes / Math.max(0.001, (now - started) / 1000);
      const pct = total ? ` (${Math.min(100, (100 * bytes) / total).toFixed(0)}%)` : '';
      stream.write(`\r\x1b[K${label} ${formatBytes(bytes)}${pct}  ${formatBytes(rate)}/s`);
      shown = true;
    },
    clear(): void {
      if (enabled && shown) stream.write('\r\x1b[K');
    },
  };
}
