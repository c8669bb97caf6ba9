/**
 * What the platform API answers. The OpenAPI document types requests (src/api/schema.d.ts,
 * generated); answers are described here, after the API's route handlers (docs/api.md).
 */
export type Health = 'ok' | 'warning' | 'critical' | 'unknown';

export interface Me {
  actor: string;
  actorType: string;
  scopes: string[];
}

export type ClientStatus = 'active' | 'paused' | 'churned';

export interface Client {
  id: string;
  slug: string;
  name: string;
  status: ClientStatus;
  plan: string | null;
  contactEmail: string | null;
  contactPhone: string | null;
  timezone: string;
  createdAt: string;
  lastActivityAt: string | null;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export interface Automation {
  id: string;
  client: string;
  n8nWorkflowId: string;
  name: string;
  minutesSavedPerRun: number;
  hourlyValueCents: number;
  currency: string;
  enabled: boolean;
  createdAt: string;
}

export interface MappedWorkflow {
  automation: Automation;
  n8n: { id: string; name: string; active: boolean; updatedAt: string | null } | null;
  missingInN8n: boolean;
}

export interface Usage {
  client: string;
  runs: number;
  failures: number;
  failureRatio: number;
  hoursSaved: number;
  valueCents: number;
  valueCurrency: string | null;
  costCents: number | null;
  costCurrency: string | null;
  roi: number | null;
}

export interface Subscription {
  id: string;
  client: string;
  planId: string;
  monthlyAmountCents: number;
  currency: string;
  startedAt: string;
  canceledAt: string | null;
}

export type InvoiceStatus = 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';

export interface Invoice {
  id: string;
  client: string;
  number: string;
  amountCents: number;
  currency: string;
  status: InvoiceStatus;
  issuedAt: string | null;
  dueAt: string | null;
  paidAt: string | null;
  createdAt: string;
}

export interface StuckExecution {
  executionId: string;
  workflowId: string;
  client: string | null;
  automation: string | null;
  startedAt: string;
  runningSeconds: number;
}

export type RestartResult =
  | (StuckExecution & {
      result: 'restarted';
      stoppedVia: 'public' | 'session';
      newExecutionId: string;
      newExecutionStatus: string;
      rerunNodes: string[];
      warning?: string;
    })
  | (StuckExecution & { result: 'failed'; stage: 'stop' | 'retry'; reason: string; stopped: boolean });

export type RestartAnswer =
  | {
      dryRun: true;
      stuck: StuckExecution[];
      /** Signs the listed ids and filters: the real run acts only on those, and only while they are still stuck. */
      reviewToken: string;
      reviewExpiresAt: string;
    }
  | { dryRun: false; outcome: 'success' | 'partial' | 'failure'; results: RestartResult[] };

export interface Rotation {
  client: string;
  secret: string;
  version: number;
  previousVersion: number | null;
  previousValidUntil: string | null;
}

export interface BackupRun {
  id: string;
  kind?: string;
  status: string;
  startedAt: string;
  finishedAt?: string | null;
  bytes?: number | null;
  error?: string | null;
}

export interface BackupStarted {
  alreadyRunning: boolean;
  run: BackupRun;
}

export interface AuditRow {
  id: string;
  at: string;
  actor: string;
  actorType: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  clientId: string | null;
  outcome: string;
  details: Record<string, unknown> | null;
  sourceIp: string | null;
  requestId: string | null;
  hash: string;
}

export interface ChainVerification {
  ok: boolean;
  rowsChecked: number;
  firstBadId: string | null;
  reason: string | null;
  durationSeconds?: number;
}

export interface ExportDefinition {
  name: string;
  description: string;
  unit: string;
  columns: string[];
}

export interface StatusRun {
  id: string;
  kind: string;
  status: string;
  startedAt: string | null;
  finishedAt: string | null;
  bytes: number | null;
  error: string | null;
}

export interface PlatformStatus {
  at: string;
  overall: Health;
  platform: { status: Health; version: string; uptimeSeconds: number };
  database: {
    status: Health;
    reachable: boolean;
    latencyMs?: number;
    migrations?: { applied: number; total: number };
    auditChain?: {
      ok: boolean;
      rowsChecked: number;
      firstBadId: string | null;
      reason: string | null;
      verifiedAt: string | null;
    } | null;
    error?: string;
  };
  n8n: { status: Health; reachable: boolean; workflows?: number; activeWorkflows?: number; error?: string };
  backups: {
    status: Health;
    running?: StatusRun | null;
    lastSuccess?: StatusRun | null;
    lastSuccessAgeSeconds?: number | null;
    lastFailure?: StatusRun | null;
    error?: string;
  };
  alerts: { status: Health; firing: number | null; bySeverity?: Record<string, number>; error?: string };
}
