import { createLogger, redactUrl } from '@ct/lib';
import { loadNotifierConfig } from './config';
import { startNotifier } from './notifier';

/** `ct serve notifier`: validates the configuration, listens, and returns a stop(). */
export async function startNotifierService(opts: { port?: number } = {}): Promise<{ stop(): Promise<void> }> {
  const config = loadNotifierConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, name: 'notifier' });
  const running = await startNotifier({ config, logger, port: opts.port });
  logger.info(
    {
      url: running.url,
      twilio: redactUrl(config.TWILIO_API_URL),
      callTo: config.NOTIFIER_CALL_TO.length,
      smsTo: config.NOTIFIER_SMS_TO.length,
    },
    'notifier listening',
  );
  return {
    async stop() {
      await running.close();
      logger.info('notifier stopped');
    },
  };
}
