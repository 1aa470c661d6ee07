#!/bin/sh
# Backup (compose/docker-compose.backup.yml, in the harbor-db image, as root): the wrapper's key
# store, a pg_dump of Harbor's database and the registry's data, into /backups/harbor-backup-<time>.
# Harbor must be stopped (core, jobservice, registry, registryctl) so that the three agree.
set -eu
HARBOR_SHIM=backup
. "$(dirname "$0")/lib.sh"
harbor_wait
harbor_load_env "$HARBOR_SETUP_DIR/config/core/env"
for service in core jobservice registry registryctl; do
    if getent hosts "$service" >/dev/null 2>&1; then
        harbor_die "$service is running: stop Harbor first so that the database and the registry" \
            "agree (docker compose stop proxy portal core jobservice registryctl registry), then" \
            "run the backup again and start Harbor (docker compose up -d)."
    fi
done
[ -d /backups ] || harbor_die "/backups is not mounted (HARBOR_BACKUP_DIR)"

umask 077
name=harbor-backup-$(date -u +%Y%m%dT%H%M%SZ)
work=/backups/.$name.partial
mkdir "$work"
trap 'rm -rf "$work"' EXIT

cp -a "$HARBOR_SETUP_DIR/.store" "$work/store"
export PGPASSWORD="$POSTGRESQL_PASSWORD" PGSSLMODE="${POSTGRESQL_SSLMODE:-disable}"
pg_dump --host "$POSTGRESQL_HOST" --port "${POSTGRESQL_PORT:-5432}" \
    --username "$POSTGRESQL_USERNAME" --dbname "$POSTGRESQL_DATABASE" \
    --format custom --file "$work/registry.pgdump"
unset PGPASSWORD
harbor_say "database $POSTGRESQL_DATABASE dumped with $(pg_dump --version)"
provider=${REGISTRY_STORAGE_PROVIDER_NAME:-filesystem}
if [ "$provider" = filesystem ]; then
    cp -a /storage "$work/registry"
    registry="registry/: the registry's data (its /storage)"
else
    registry="no registry data: it is in $provider object storage, which its provider backs up"
fi
cat > "$work/README.txt" <<TEXT
Harbor backup $name, by harbor-setupwrapper.

THIS BACKUP HOLDS SECRETS: the key that encrypts the credentials in Harbor's database
(store/secretkey), the token signing key, every password the wrapper made, and the database.
Its files are 0600 and its folders 0700: keep it that way, and encrypted wherever it goes.

  store/            the wrapper's key store (DIR/.store)
  registry.pgdump   pg_dump --format custom of the database $POSTGRESQL_DATABASE
  $registry

Restore it into an empty deployment as the README's "Day 2: restore" says.
TEXT
find "$work" -type d -exec chmod 0700 {} +
find "$work" -type f -exec chmod 0600 {} +
mv "$work" "/backups/$name"
trap - EXIT
harbor_say "wrote /backups/$name (it holds secrets: files 0600, folders 0700)"
echo "$name"
