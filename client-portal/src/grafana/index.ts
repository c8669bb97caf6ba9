export { GrafanaApiError, GrafanaClient, type GrafanaClientOptions, type GrafanaOrgUser, type OrgRole } from './client';
export { grafanaSyncSchema, loadGrafanaApiConfig, loadGrafanaSyncConfig, type GrafanaAuth, type GrafanaSyncConfig } from './config';
export { CLIENT_HOME_DASHBOARD_UID, loadClientDashboards, type DashboardJson } from './dashboards';
export { addPortalUser, listPortalUsers, removePortalUser, type AddedPortalUser, type PortalUserOptions } from './portal-users';
export {
  credentialFingerprint,
  formatSyncResult,
  orgNameOf,
  POSTGRES_DATASOURCE,
  PROMETHEUS_DATASOURCE,
  requireAdminUser,
  syncGrafanaOrgs,
  type PlanItem,
  type SyncOptions,
  type SyncResult,
  type SyncSettings,
} from './sync';
