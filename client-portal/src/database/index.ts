export { clientRoleName, dropClientRole, ensureClientRole, setClientRolePassword, type DroppedClientRole } from './roles';
