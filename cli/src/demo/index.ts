/**
 * The demo data set (`ct demo seed`): functions the CLI and the tests call directly. Loading this
 * module loads the platform API (express), so commands import it only when they run.
 */
export { DEMO_CLIENTS, DEMO_PLANS, DEMO_SLUGS, DEMO_EVENT_DAYS, workflowName, webhookPath, invoiceNumber } from './data';
export type { DemoClient, DemoClientStatus, DemoPlan, DemoWorkflow, DemoRun, DemoEventPattern, DemoInvoice } from './data';
export { demoEvents, type DemoEvent } from './events';
export { removeDemoWorkflows, workflowDefinition, type ImportedWorkflow } from './workflows';
export {
  seedDemo,
  demoDepsFromEnv,
  DEFAULT_STUCK_SECONDS,
  MIN_STUCK_SECONDS,
  MAX_STUCK_SECONDS,
  type DemoDeps,
  type DemoSummary,
  type SeedDemoOptions,
} from './seed';
export { formatDemoSummary } from './summary';
