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
      statusCallbacks: config.NOTIFIER_PUBLIC_URL ? `${redactUrl(config.NOTIFIER_PUBLIC_URL).replace(/\/+$/, '')}/twilio/status` : 'off',
      stateFile: config.NOTIFIER_STATE_FILE ?? 'none (in memory)',
    },
    'notifier listening',
  );
  if (!config.NOTIFIER_PUBLIC_URL) {
    logger.warn('NOTIFIER_PUBLIC_URL is not set: call outcomes are learnt by polling Twilio every NOTIFIER_POLL_INTERVAL');
  }
  return {
    async stop() {
      await running.close();
      logger.info('notifier stopped');
    },
  };
}
