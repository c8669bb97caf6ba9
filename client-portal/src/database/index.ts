export {
  clientRoleChanges,
  clientRoleName,
  clientRoleState,
  disableClientRoleLogin,
  dropClientRole,
  ensureClientRole,
  predictDropClientRole,
  setClientRolePassword,
  type ClientRoleState,
  type DroppedClientRole,
} from './roles';
