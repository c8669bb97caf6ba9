import { randomBytes } from 'node:crypto';

/**
 * A complete .env as an operator fills it: every secret a distinct value, so where each value ends
 * up tells which service received it. Valid for every configuration schema.
 */
const hex = () => randomBytes(32).toString('hex');
export const DOT_ENV: Record<string, string> = {
  CT_VERSION: '0.1.0',
  GRAFANA_PUBLIC_HOST: 'grafana.agency.example',
  API_PUBLIC_HOST: 'api.agency.example',
  N8N_PUBLIC_HOST: 'n8n.agency.example',
  ACME_EMAIL: 'ops@agency.example',
  POSTGRES_PASSWORD: hex(),
  APP_DB_PASSWORD: hex(),
  MONITOR_DB_PASSWORD: hex(),
  DASHBOARD_DB_PASSWORD: 'Dashb0ardReaderPassw0rd+/AbCdEf',
  N8N_DB_PASSWORD: hex(),
  N8N_ENCRYPTION_KEY: hex(),
  REDIS_PASSWORD: hex(),
  GRAFANA_DB_PASSWORD: hex(),
  SECRETS_KEY: 'secrets-key-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  API_JWT_SECRET: 'jwt-secret-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
  API_GRAFANA_PROXY_SECRET: 'proxy-secret-CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC',
  API_GRAFANA_PROXY_SECRET_PREVIOUS: 'proxy-previous-DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD',
  BACKUP_MASTER_KEY: 'backup-master-EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE',
  S3_BUCKET: 'ct-backups',
  S3_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID',
  S3_SECRET_ACCESS_KEY: 's3-secret-FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF',
  NOTIFIER_AUTH_TOKEN: 'notifier-token-GGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG',
  TWILIO_ACCOUNT_SID: `AC${'0123456789abcdef'.repeat(2)}`,
  TWILIO_AUTH_TOKEN: 'twilio-token-HHHHHHHHHHHHHHHHHHHH',
  TWILIO_FROM: '+14155550100',
  NOTIFIER_CALL_TO: '+14155550101',
  NOTIFIER_SMS_TO: '+14155550102',
  N8N_API_KEY: 'n8n-api-key-IIIIIIIIIIIIIIIIIIIIIIIIII',
  N8N_OWNER_EMAIL: 'automation@agency.example',
  N8N_OWNER_PASSWORD: 'n8n-owner-JJJJJJJJJJJJJJJJJJJ',
  GRAFANA_ADMIN_USER: 'ct-sync',
  GRAFANA_ADMIN_PASSWORD: 'grafana-admin-KKKKKKKKKKKKKKKKKKKK',
};
