-- name: tenant_ensure
-- The id of the tenant with this name, creating it if needed.
INSERT INTO tenants (name) VALUES (%(name)s)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id;

-- name: tenant_create
-- A new tenant; fails if the name is taken.
INSERT INTO tenants (name) VALUES (%(name)s)
RETURNING id;

-- name: api_key_create
-- Store a new API key (its SHA-256 only) for a tenant.
INSERT INTO api_keys (tenant_id, name, prefix, key_hash, is_admin)
VALUES (%(tenant_id)s, %(name)s, %(prefix)s, %(key_hash)s, %(is_admin)s)
RETURNING id;

-- name: api_key_ensure
-- Store a fixed key (the development key) for a tenant unless it is already there.
INSERT INTO api_keys (tenant_id, name, prefix, key_hash, is_admin)
VALUES (%(tenant_id)s, %(name)s, %(prefix)s, %(key_hash)s, %(is_admin)s)
ON CONFLICT (key_hash) DO NOTHING;

-- name: api_key_authenticate
-- The tenant behind a key hash, if the key is live and the tenant enabled.
SELECT k.id, k.tenant_id, t.name AS tenant_name, k.is_admin
  FROM api_keys k
  JOIN tenants t ON t.id = k.tenant_id
 WHERE k.key_hash = %(key_hash)s
   AND k.revoked_at IS NULL
   AND t.disabled_at IS NULL;

-- name: api_key_revoke
-- Revoke a key by its id or its printed prefix.
UPDATE api_keys
   SET revoked_at = now()
 WHERE (id::text = %(key)s OR prefix = %(key)s)
   AND revoked_at IS NULL
RETURNING id, prefix;

-- name: api_key_list
-- Keys of every tenant, for operators (never the keys themselves).
SELECT k.id, t.name AS tenant, k.name, k.prefix, k.is_admin, k.created_at, k.revoked_at
  FROM api_keys k
  JOIN tenants t ON t.id = k.tenant_id
 ORDER BY t.name, k.created_at;

-- name: tenant_exists
-- An enabled tenant with this id.
SELECT 1 FROM tenants WHERE id = %(id)s AND disabled_at IS NULL;
