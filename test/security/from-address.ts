import { request } from 'node:http';

/**
 * A JSON call to the API from a chosen loopback address (127.0.0.0/8 is all local on Linux): a
 * real other source address, as an attacker with many addresses has, with no header to trust.
 */
export function callFrom(
  url: string,
  from: string,
  method: string,
  path: string,
  body?: unknown,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the tests as they like
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any; ms: number }> {
  const started = process.hrtime.bigint();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        localAddress: from,
        agent: false,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: json, ms: Number(process.hrtime.bigint() - started) / 1e6 });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The n-th of many distinct loopback addresses. */
export const address = (n: number) => `127.0.${Math.floor(n / 250) + 1}.${(n % 250) + 2}`;

/** The API's metrics as Prometheus scrapes them (on the internal listener when the API has one). */
export async function scrape(api: { call(m: string, p: string, o: { key: null }): Promise<{ text: string }> }): Promise<string> {
  const withScrape = api as unknown as { scrape?: () => Promise<string> };
  return withScrape.scrape ? withScrape.scrape() : (await api.call('GET', '/metrics', { key: null })).text;
}
