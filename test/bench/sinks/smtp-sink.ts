/**
 * SMTP sink for the bench: accepts every message (plain SMTP, any or no authentication) and lists
 * them over HTTP so tests can read what the platform and Alertmanager mailed.
 *
 *   GET    /messages   [{ from, to, subject, headers, text, raw }], oldest first
 *   DELETE /messages   forget them
 */
import http from 'node:http';
import { SMTPServer } from 'smtp-server';

interface Message {
  at: string;
  from: string;
  to: string[];
  subject: string;
  headers: Record<string, string>;
  text: string;
  raw: string;
}

const [smtpPort, httpPort] = process.argv.slice(2).map(Number);
const messages: Message[] = [];

/** Header block and body of a raw RFC 5322 message; folded header lines are unfolded. */
function parse(raw: string): { headers: Record<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  const head = split >= 0 ? raw.slice(0, split) : raw;
  const text = split >= 0 ? raw.slice(split).replace(/^\s+/, '') : '';
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, text };
}

const smtp = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onAuth(_auth, _session, cb) {
    cb(null, { user: 'sink' });
  },
  onData(stream, session, cb) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const { headers, text } = parse(raw);
      messages.push({
        at: new Date().toISOString(),
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: session.envelope.rcptTo.map((r) => r.address),
        subject: headers.subject ?? '',
        headers,
        text,
        raw,
      });
      cb();
    });
  },
});
smtp.listen(smtpPort, '127.0.0.1');

const api = http.createServer((req, res) => {
  if (req.url?.startsWith('/messages')) {
    if (req.method === 'DELETE') messages.length = 0;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify(req.method === 'DELETE' ? [] : messages));
  }
  res.writeHead(404);
  res.end();
});
api.listen(httpPort, '127.0.0.1');

process.on('SIGTERM', () => {
  smtp.close(() => api.close(() => process.exit(0)));
});
