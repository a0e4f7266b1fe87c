-- name: tenant_ensure
-- The id of the tenant with this name, creating it if needed.
INSERT INTO tenants (name) VALUES (%(name)s)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id;
