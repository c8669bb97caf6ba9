-- Whether a client portal role has a password, for `ct grafana sync`, which connects as ct_app.
--
-- After a database moves to another cluster its client roles may exist without passwords (roles
-- copied without them): sync gives such a role the current portal token as its password, so the
-- client's Activity datasource logs in again. Whether a role has a password is stored in
-- pg_authid, which only a superuser may read, and ct_app may not read it (017). This function
-- answers that one question, as the owner, and nothing else: for the role of a client of this
-- database only (bound to it in portal.client_roles, the check ct_portal_set_client_role_password
-- makes), never another role's, never the verifier or anything derived from it (its kind, length
-- or iteration count). Whether the role may log in at all is public already (pg_roles.rolcanlogin).
--
-- Returns NULL when the slug names no client role of this database (no client, no binding, or no
-- such role): the caller learns no more about roles it does not look after than pg_roles tells.
CREATE FUNCTION ct_portal_client_role_has_password(p_slug text) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_name name := ct_portal_check_slug(p_slug);
BEGIN
  IF NOT EXISTS (SELECT FROM portal.client_roles m JOIN public.clients c ON c.id = m.client_id
                 WHERE m.role = v_name AND c.slug = p_slug) THEN
    RETURN NULL;
  END IF;
  RETURN (SELECT a.rolpassword IS NOT NULL FROM pg_authid a WHERE a.rolname = v_name);
END
$$;
REVOKE EXECUTE ON FUNCTION ct_portal_client_role_has_password(text) FROM PUBLIC;

INSERT INTO app_role_grants (object_type, object_name, privileges, reason) VALUES
  ('function', 'public.ct_portal_client_role_has_password(text)', '{EXECUTE}',
   'org sync sets the password of a client role found without one (a cluster move); answers yes or no, never the verifier')
ON CONFLICT (object_type, object_name) DO NOTHING;
