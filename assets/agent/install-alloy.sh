#!/bin/bash
# lgtm-fleet: install, upgrade or reload the Grafana Alloy agent on a Linux instance.
#
# Run by the lgtm-fleet Linux SSM document (aws:runShellScript, as root). Run Command
# hands the document parameters over as environment variables (interpolationType
# ENV_VAR), so no parameter value is ever part of this script's text:
#
#   SSM_AgentConfig       Alloy configuration text (a Parameter Store value, resolved by Run Command)
#   SSM_Tenant            tenant ID, written to LGTM_TENANT
#   SSM_AlloyVersion      Alloy version to run, e.g. 1.21.0 (upgrades or downgrades to it)
#   SSM_ConfigVersion     Parameter Store version of the config, written to LGTM_CONFIG_VERSION
#   SSM_Action            install (default): install/upgrade, write config and environment, restart on change
#                         reload: write and validate the config, then POST /-/reload (no restart)
#   SSM_StopLegacyAgents  true (default) | false: stop and disable ADOT collector and node_exporter units
#
# Environment written for the Alloy config (read there with sys.env): LGTM_TENANT,
# LGTM_INSTANCE_ID, LGTM_AVAILABILITY_ZONE, LGTM_REGION, LGTM_INSTANCE_TYPE,
# LGTM_HOSTNAME, LGTM_CONFIG_VERSION; identity values come from IMDSv2.
#
# Overrides, for tests:
#   LGTM_ROOT           prefix for every file the script reads or writes (default: none)
#   LGTM_IMDS_URL       instance metadata service (default: http://169.254.169.254)
#   LGTM_ALLOY_URL      Alloy's HTTP server (default: http://127.0.0.1:12345)
#   LGTM_READY_TIMEOUT  seconds to wait for /-/ready (default: 60)
#
# Every external command is called by name (tests shim them through PATH). Exit status
# is 0 on success; on failure 1, with "lgtm-fleet: <what failed>" on stderr.

# Run Command starts the script through sh; make sure bash interprets it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

set -Eeuo pipefail
umask 022

readonly ROOT="${LGTM_ROOT:-}"
readonly IMDS_URL="${LGTM_IMDS_URL:-http://169.254.169.254}"
readonly ALLOY_URL="${LGTM_ALLOY_URL:-http://127.0.0.1:12345}"
readonly READY_TIMEOUT="${LGTM_READY_TIMEOUT:-60}"

readonly UNIT=alloy
readonly ALLOY_USER=alloy
readonly ALLOY_GROUP=alloy
# Path as the service sees it; the script itself works on "$ROOT$CONFIG_PATH".
readonly CONFIG_PATH=/etc/alloy/config.alloy
readonly LISTEN_ADDR=127.0.0.1:12345
readonly -a LEGACY_UNITS=(aws-otel-collector node_exporter prometheus-node-exporter)
readonly -a LOG_GROUPS=(systemd-journal adm)

readonly APT_KEY_URL=https://apt.grafana.com/gpg-full.key
readonly APT_REPO_URL=https://apt.grafana.com
readonly RPM_REPO_URL=https://rpm.grafana.com
readonly RPM_KEY_URL=https://rpm.grafana.com/gpg.key

log() { printf 'lgtm-fleet: %s\n' "$*"; }
die() {
  printf 'lgtm-fleet: %s\n' "$*" >&2
  exit 1
}

# A failure nobody checked for still names itself. In subshells (command
# substitutions) just pass the status up: the caller reports it.
on_error() {
  local status=$1 line=$2 command=$3
  if [[ $BASHPID != "$$" ]]; then exit "$status"; fi
  die "unexpected failure (exit $status) at line $line: $command"
}
trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR

# ---------------------------------------------------------------------------
# Inputs

ACTION="${SSM_Action:-install}"
TENANT="${SSM_Tenant:-}"
ALLOY_VERSION="${SSM_AlloyVersion:-}"
CONFIG_VERSION="${SSM_ConfigVersion:-}"
STOP_LEGACY="${SSM_StopLegacyAgents:-true}"

validate_inputs() {
  case "$ACTION" in
    install | reload) ;;
    *) die "Action must be install or reload, got '$ACTION'" ;;
  esac
  if [[ ! $TENANT =~ ^[A-Za-z0-9_.-]{1,128}$ || $TENANT == . || $TENANT == .. ]]; then
    die "Tenant must be 1-128 letters, digits, '-', '_' or '.', got '$TENANT'"
  fi
  [[ $ALLOY_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    die "AlloyVersion must look like 1.21.0, got '$ALLOY_VERSION'"
  [[ $CONFIG_VERSION =~ ^[0-9]{1,19}$ ]] ||
    die "ConfigVersion must be a Parameter Store version number, got '$CONFIG_VERSION'"
  case "$STOP_LEGACY" in
    true | false) ;;
    *) die "StopLegacyAgents must be true or false, got '$STOP_LEGACY'" ;;
  esac
  [[ $READY_TIMEOUT =~ ^[0-9]{1,4}$ ]] || die "LGTM_READY_TIMEOUT must be a number of seconds, got '$READY_TIMEOUT'"
  if [[ -z ${SSM_AgentConfig+set} ]]; then
    die "SSM_AgentConfig is not set: environment-variable parameters need SSM Agent 3.3.2746.0 or later (3.3.3572.0 or later for Parameter Store values)"
  fi
  local trimmed="${SSM_AgentConfig#"${SSM_AgentConfig%%[![:space:]]*}"}"
  [[ -n $trimmed ]] || die "AgentConfig is empty"
  # An unresolved Parameter Store reference starts with two opening braces.
  if [[ $trimmed == '{'* && ${trimmed:1:1} == '{' ]]; then
    die "AgentConfig reached the instance as an unresolved Parameter Store reference: update SSM Agent to 3.3.3572.0 or later"
  fi
}

# ---------------------------------------------------------------------------
# Platform

OS_ID=''
OS_ID_LIKE=''
OS_VERSION_ID=''
OS_NAME=''
PKG=''
ENV_PATH=''
ARCH=''

read_os_release() {
  local file="$ROOT/etc/os-release" key value
  [[ -r $file ]] || die "cannot read /etc/os-release to detect the distribution"
  # Parsed as data, never sourced.
  while IFS='=' read -r key value || [[ -n $key ]]; do
    case "$value" in
      \"*\" | \'*\') value="${value:1:${#value}-2}" ;;
    esac
    case "$key" in
      ID) OS_ID=$value ;;
      ID_LIKE) OS_ID_LIKE=$value ;;
      VERSION_ID) OS_VERSION_ID=$value ;;
      PRETTY_NAME) OS_NAME=$value ;;
    esac
  done <"$file"
  [[ -n $OS_NAME ]] || OS_NAME="$OS_ID $OS_VERSION_ID"
}

detect_platform() {
  read_os_release
  local major="${OS_VERSION_ID%%.*}"
  [[ $major =~ ^[0-9]+$ ]] || major=0
  case "$OS_ID" in
    amzn)
      # Amazon Linux 2 ships yum; Amazon Linux 2023 ships dnf.
      if [[ $major == 2 ]]; then PKG=yum; else PKG=dnf; fi
      ;;
    debian | ubuntu) PKG=apt ;;
    fedora) PKG=dnf ;;
    rhel | centos | rocky | almalinux | ol)
      if ((major >= 8)); then PKG=dnf; else PKG=yum; fi
      ;;
    *)
      case " $OS_ID_LIKE " in
        *' debian '* | *' ubuntu '*) PKG=apt ;;
        *' rhel '* | *' fedora '* | *' centos '*)
          if ((major >= 8)); then PKG=dnf; else PKG=yum; fi
          ;;
        *) die "unsupported distribution: $OS_NAME (supported: Amazon Linux 2 and 2023, Ubuntu, Debian, RHEL and its rebuilds)" ;;
      esac
      ;;
  esac
  if [[ $PKG == apt ]]; then ENV_PATH=/etc/default/alloy; else ENV_PATH=/etc/sysconfig/alloy; fi

  local machine
  machine="$(uname -m)" || die "uname -m failed"
  case "$machine" in
    x86_64 | amd64) ARCH=amd64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) die "unsupported architecture $machine: Alloy packages exist for amd64 and arm64 only" ;;
  esac
  log "platform: $OS_NAME, $ARCH, package manager $PKG"
}

# ---------------------------------------------------------------------------
# Instance identity (IMDSv2)

IMDS_TOKEN=''
INSTANCE_ID=''
AVAILABILITY_ZONE=''
REGION=''
INSTANCE_TYPE=''
HOST_NAME=''

imds_get() {
  curl -fsS --connect-timeout 2 --max-time 5 --retry 3 --retry-delay 1 \
    -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS_URL/latest/meta-data/$1"
}

imds_value() {
  local path=$1 pattern=$2 value
  value="$(imds_get "$path")" || die "instance metadata (IMDSv2) did not answer $path at $IMDS_URL"
  [[ $value =~ $pattern ]] || die "instance metadata returned an unexpected $path: '$value'"
  printf '%s' "$value"
}

read_identity() {
  IMDS_TOKEN="$(curl -fsS --connect-timeout 2 --max-time 5 --retry 3 --retry-delay 1 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS_URL/latest/api/token")" ||
    die "instance metadata (IMDSv2) is unreachable at $IMDS_URL: cannot read the instance identity (is the metadata service enabled, with a hop limit of at least 1?)"
  [[ -n $IMDS_TOKEN ]] || die "instance metadata (IMDSv2) returned an empty token"
  # imds_value reports its own failure; "|| exit 1" only stops here without a second message.
  INSTANCE_ID="$(imds_value instance-id '^i-[0-9a-f]{8,32}$')" || exit 1
  AVAILABILITY_ZONE="$(imds_value placement/availability-zone '^[a-z0-9-]{1,64}$')" || exit 1
  REGION="$(imds_value placement/region '^[a-z0-9-]{1,64}$')" || exit 1
  INSTANCE_TYPE="$(imds_value instance-type '^[a-z0-9.-]{1,64}$')" || exit 1
  if ! HOST_NAME="$(imds_get local-hostname)" || [[ -z $HOST_NAME ]]; then
    HOST_NAME="$(hostname)" || die "neither instance metadata nor hostname gave a host name"
  fi
  # local-hostname may list several names; keep the first.
  HOST_NAME="${HOST_NAME%% *}"
  [[ $HOST_NAME =~ ^[A-Za-z0-9.-]{1,253}$ ]] || die "unexpected host name '$HOST_NAME'"
  log "instance $INSTANCE_ID ($INSTANCE_TYPE) in $AVAILABILITY_ZONE, host $HOST_NAME, tenant $TENANT"
}

# ---------------------------------------------------------------------------
# Helpers

# Writes $4 to $1 atomically (temporary file in the same directory, then mv) when the
# content differs, and sets WROTE to 1 if it did, 0 if the file was already up to date.
# (Never called as a condition: bash would then ignore errexit inside it.)
WROTE=0
write_file() {
  local dest=$1 mode=$2 owner=$3 content=$4 dir tmp
  dir="${dest%/*}"
  mkdir -p "$dir"
  tmp="$(mktemp "$dir/.lgtm-fleet.XXXXXX")"
  printf '%s' "$content" >"$tmp"
  if [[ -f $dest ]] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
    WROTE=0
    return 0
  fi
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$dest"
  WROTE=1
}

# Succeeds when version $1 is lower than version $2 (both X.Y.Z).
version_lt() {
  local -a a b
  local i
  IFS=. read -r -a a <<<"$1"
  IFS=. read -r -a b <<<"$2"
  for i in 0 1 2; do
    if ((10#${a[i]:-0} < 10#${b[i]:-0})); then return 0; fi
    if ((10#${a[i]:-0} > 10#${b[i]:-0})); then return 1; fi
  done
  return 1
}

installed_alloy_version() {
  local out
  command -v alloy >/dev/null 2>&1 || return 0
  out="$(alloy --version 2>/dev/null)" || return 0
  if [[ $out =~ version[[:space:]]+v?([0-9]+\.[0-9]+\.[0-9]+) ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  fi
}

unit_exists() {
  local state
  state="$(systemctl show -p LoadState "$1.service" 2>/dev/null)" || return 1
  [[ $state == LoadState=loaded ]]
}

print_journal() {
  printf 'lgtm-fleet: last journal lines of %s:\n' "$UNIT" >&2
  journalctl -u "$UNIT" -n 50 --no-pager >&2 || true
}

fail_with_journal() {
  printf 'lgtm-fleet: %s\n' "$*" >&2
  print_journal
  exit 1
}

# ---------------------------------------------------------------------------
# Legacy agents

stop_legacy_agents() {
  [[ $STOP_LEGACY == true ]] || return 0
  local unit
  for unit in "${LEGACY_UNITS[@]}"; do
    unit_exists "$unit" || continue
    if systemctl is-active --quiet "$unit"; then
      log "stopping legacy agent $unit"
      systemctl stop "$unit" || die "could not stop legacy agent $unit"
    fi
    # Separate stop/disable: systemd 219 (Amazon Linux 2) has no "disable --now".
    if systemctl is-enabled --quiet "$unit"; then
      log "disabling legacy agent $unit"
      systemctl disable "$unit" || die "could not disable legacy agent $unit"
    fi
  done
}

# ---------------------------------------------------------------------------
# Package installation

REPO_CHANGED=0

ensure_apt_repo() {
  local keyring="$ROOT/etc/apt/keyrings/grafana.asc"
  mkdir -p "$ROOT/etc/apt/keyrings"
  if [[ ! -s $keyring ]]; then
    log "adding Grafana's apt signing key"
    curl -fsSL --retry 3 -o "$keyring.tmp" "$APT_KEY_URL" ||
      die "could not download Grafana's apt signing key from $APT_KEY_URL"
    chmod 0644 "$keyring.tmp"
    mv -f "$keyring.tmp" "$keyring"
    REPO_CHANGED=1
  fi
  write_file "$ROOT/etc/apt/sources.list.d/grafana.list" 0644 root:root \
    "deb [signed-by=/etc/apt/keyrings/grafana.asc] $APT_REPO_URL stable main"$'\n'
  if ((WROTE)); then
    log "added the Grafana apt repository"
    REPO_CHANGED=1
  fi
}

ensure_rpm_repo() {
  local repo
  repo="$(printf '%s\n' '[grafana]' 'name=grafana' "baseurl=$RPM_REPO_URL" 'repo_gpgcheck=1' 'enabled=1' \
    'gpgcheck=1' "gpgkey=$RPM_KEY_URL" 'sslverify=1' 'sslcacert=/etc/pki/tls/certs/ca-bundle.crt')"
  write_file "$ROOT/etc/yum.repos.d/grafana.repo" 0644 root:root "$repo"$'\n'
  if ((WROTE)); then
    log "added the Grafana rpm repository"
    REPO_CHANGED=1
    rpm --import "$RPM_KEY_URL" || die "could not import Grafana's rpm signing key from $RPM_KEY_URL"
  fi
}

# Prints the repository's full package version for $ALLOY_VERSION (e.g. 1.21.0 or 1.21.0-1).
apt_package_version() {
  local out version
  out="$(apt-cache madison alloy 2>/dev/null)" || return 1
  while IFS='|' read -r _ version _; do
    version="${version//[[:space:]]/}"
    if [[ $version == "$ALLOY_VERSION" || $version == "$ALLOY_VERSION"-* ]]; then
      printf '%s' "$version"
      return 0
    fi
  done <<<"$out"
  return 1
}

apt_install() {
  local package_version=''
  if [[ $REPO_CHANGED == 1 ]] || ! package_version="$(apt_package_version)"; then
    apt-get -q -o DPkg::Lock::Timeout=300 update ||
      die "apt-get update failed"
    package_version="$(apt_package_version)" ||
      die "Alloy $ALLOY_VERSION is not available from $APT_REPO_URL"
  fi
  # force-confold keeps the environment file this script manages.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    --allow-downgrades "alloy=$package_version" ||
    die "apt-get could not install alloy=$package_version"
}

rpm_install() {
  local current=$1 verb=install
  if [[ -n $current ]] && version_lt "$ALLOY_VERSION" "$current"; then verb=downgrade; fi
  if [[ $PKG == dnf ]]; then
    dnf -y --refresh "$verb" "alloy-$ALLOY_VERSION" || die "dnf could not $verb alloy-$ALLOY_VERSION"
  else
    yum -y clean expire-cache >/dev/null || true
    yum -y "$verb" "alloy-$ALLOY_VERSION" || die "yum could not $verb alloy-$ALLOY_VERSION"
  fi
}

BINARY_CHANGED=0

ensure_alloy_installed() {
  local current
  current="$(installed_alloy_version)"
  if [[ $current == "$ALLOY_VERSION" ]]; then
    log "Alloy $ALLOY_VERSION is already installed"
    return 0
  fi
  log "installing Alloy $ALLOY_VERSION (installed: ${current:-none})"
  if [[ $PKG == apt ]]; then
    ensure_apt_repo
    apt_install
  else
    ensure_rpm_repo
    rpm_install "$current"
  fi
  systemctl daemon-reload || die "systemctl daemon-reload failed"
  current="$(installed_alloy_version)"
  [[ $current == "$ALLOY_VERSION" ]] ||
    die "after installing, alloy --version reports '${current:-nothing}' instead of $ALLOY_VERSION"
  BINARY_CHANGED=1
}

GROUPS_CHANGED=0

ensure_log_groups() {
  id "$ALLOY_USER" >/dev/null 2>&1 || die "user $ALLOY_USER does not exist (the alloy package creates it)"
  local member_of group
  member_of=" $(id -nG "$ALLOY_USER") " || die "cannot list the groups of $ALLOY_USER"
  for group in "${LOG_GROUPS[@]}"; do
    getent group "$group" >/dev/null 2>&1 || continue
    [[ $member_of == *" $group "* ]] && continue
    usermod -a -G "$group" "$ALLOY_USER" || die "could not add $ALLOY_USER to group $group"
    log "added $ALLOY_USER to group $group (journal and log file access)"
    GROUPS_CHANGED=1
  done
}

# ---------------------------------------------------------------------------
# Environment file

CUSTOM_ARGS=''

# Keeps the package's own arguments (e.g. --stability.level) and pins the HTTP server to
# localhost with usage reporting off.
compute_custom_args() {
  local existing='' line arg
  local -a words=() kept=()
  if [[ -f $ROOT$ENV_PATH ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      if [[ $line == CUSTOM_ARGS=* ]]; then
        existing="${line#CUSTOM_ARGS=}"
        existing="${existing#\"}"
        existing="${existing%\"}"
      fi
    done <"$ROOT$ENV_PATH"
  fi
  read -r -a words <<<"$existing"
  for arg in ${words[@]+"${words[@]}"}; do
    case "$arg" in
      --server.http.listen-addr=* | --disable-reporting) ;;
      *) kept+=("$arg") ;;
    esac
  done
  kept+=("--server.http.listen-addr=$LISTEN_ADDR" --disable-reporting)
  CUSTOM_ARGS="${kept[*]}"
}

# The package's file with CONFIG_FILE and CUSTOM_ARGS set in place and the LGTM_* block
# (re)written at the end; every other line is kept as it is.
render_env_file() {
  local line config_done=0 args_done=0
  if [[ -f $ROOT$ENV_PATH ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      case "$line" in
        CONFIG_FILE=*)
          ((config_done)) || printf 'CONFIG_FILE="%s"\n' "$CONFIG_PATH"
          config_done=1
          ;;
        CUSTOM_ARGS=*)
          ((args_done)) || printf 'CUSTOM_ARGS="%s"\n' "$CUSTOM_ARGS"
          args_done=1
          ;;
        LGTM_* | '# Managed by lgtm-fleet'*) ;;
        *) printf '%s\n' "$line" ;;
      esac
    done <"$ROOT$ENV_PATH"
  fi
  ((config_done)) || printf 'CONFIG_FILE="%s"\n' "$CONFIG_PATH"
  ((args_done)) || printf 'CUSTOM_ARGS="%s"\n' "$CUSTOM_ARGS"
  printf '%s\n' \
    '# Managed by lgtm-fleet (rewritten on every run, read by the Alloy config with sys.env):' \
    "LGTM_TENANT=\"$TENANT\"" \
    "LGTM_INSTANCE_ID=\"$INSTANCE_ID\"" \
    "LGTM_AVAILABILITY_ZONE=\"$AVAILABILITY_ZONE\"" \
    "LGTM_REGION=\"$REGION\"" \
    "LGTM_INSTANCE_TYPE=\"$INSTANCE_TYPE\"" \
    "LGTM_HOSTNAME=\"$HOST_NAME\"" \
    "LGTM_CONFIG_VERSION=\"$CONFIG_VERSION\""
}

without_config_version() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == LGTM_CONFIG_VERSION=* ]] || printf '%s\n' "$line"
  done <<<"$1"
}

ENV_CONTENT=''
ENV_CHANGED=0
# Set when something besides LGTM_CONFIG_VERSION changes: a running process only reads
# its environment at start, so such a change needs a restart rather than a reload.
ENV_NEEDS_RESTART=0

plan_env_file() {
  local before=''
  compute_custom_args
  ENV_CONTENT="$(render_env_file)"$'\n'
  [[ -f $ROOT$ENV_PATH ]] && before="$(<"$ROOT$ENV_PATH")"$'\n'
  if [[ $before != "$ENV_CONTENT" ]]; then
    ENV_CHANGED=1
    if [[ $(without_config_version "$before") != "$(without_config_version "$ENV_CONTENT")" ]]; then
      ENV_NEEDS_RESTART=1
    fi
  fi
}

apply_env_file() {
  write_file "$ROOT$ENV_PATH" 0644 root:root "$ENV_CONTENT"
  if ((WROTE)); then log "updated $ENV_PATH"; fi
}

# ---------------------------------------------------------------------------
# Configuration

STAGED_CONFIG=''

cleanup_staged() {
  if [[ -n $STAGED_CONFIG && -e $STAGED_CONFIG ]]; then rm -f "$STAGED_CONFIG"; fi
}
trap cleanup_staged EXIT

# Writes the new config next to the live one and checks it with Alloy, using the
# run's stability flags.
stage_config() {
  local dir="$ROOT${CONFIG_PATH%/*}" output arg status=0
  local -a words=() flags=()
  mkdir -p "$dir"
  STAGED_CONFIG="$(mktemp "$dir/.config.alloy.XXXXXX")"
  printf '%s' "$SSM_AgentConfig" >"$STAGED_CONFIG"
  # Always end with a newline, so the same input gives the same file.
  [[ $SSM_AgentConfig == *$'\n' ]] || printf '\n' >>"$STAGED_CONFIG"
  chmod 0640 "$STAGED_CONFIG"
  chown "root:$ALLOY_GROUP" "$STAGED_CONFIG"

  read -r -a words <<<"$CUSTOM_ARGS"
  for arg in ${words[@]+"${words[@]}"}; do
    case "$arg" in
      --stability.level=* | --feature.community-components.enabled=*) flags+=("$arg") ;;
    esac
  done
  if alloy validate --help >/dev/null 2>&1; then
    output="$(alloy validate ${flags[@]+"${flags[@]}"} "$STAGED_CONFIG" 2>&1)" || status=$?
  else
    # Releases before 1.9 have no validate command; fmt at least parses the file.
    output="$(alloy fmt "$STAGED_CONFIG" 2>&1 >/dev/null)" || status=$?
  fi
  if ((status != 0)); then
    die "Alloy rejected the new configuration (config version $CONFIG_VERSION); the current one is unchanged:
$output"
  fi
}

CONFIG_CHANGED=0

# Moves the staged config into place if it differs from the live one.
apply_config() {
  if [[ -f $ROOT$CONFIG_PATH ]] && cmp -s "$STAGED_CONFIG" "$ROOT$CONFIG_PATH"; then
    rm -f "$STAGED_CONFIG"
    CONFIG_CHANGED=0
  else
    mv -f "$STAGED_CONFIG" "$ROOT$CONFIG_PATH"
    CONFIG_CHANGED=1
    log "wrote $CONFIG_PATH (config version $CONFIG_VERSION)"
  fi
  STAGED_CONFIG=''
}

# ---------------------------------------------------------------------------
# Service

RESTARTED=0

wait_ready() {
  local attempt
  for ((attempt = 0; attempt < READY_TIMEOUT; attempt++)); do
    if curl -fsS -o /dev/null --max-time 2 "$ALLOY_URL/-/ready" 2>/dev/null; then return 0; fi
    sleep 1
  done
  return 1
}

restart_service() {
  log "restarting $UNIT ($1)"
  systemctl restart "$UNIT" || fail_with_journal "systemctl restart $UNIT failed"
  RESTARTED=1
}

finish() {
  wait_ready || fail_with_journal "Alloy did not become ready at $ALLOY_URL/-/ready within ${READY_TIMEOUT}s"
  log "Alloy $(installed_alloy_version) is ready: tenant $TENANT, config version $CONFIG_VERSION, action $ACTION, installed=$BINARY_CHANGED, restarted=$RESTARTED"
}

run_install() {
  ensure_alloy_installed
  ensure_log_groups
  plan_env_file
  stage_config
  apply_env_file
  apply_config

  if ! systemctl is-enabled --quiet "$UNIT"; then
    systemctl enable "$UNIT" || die "systemctl enable $UNIT failed"
  fi
  if ((BINARY_CHANGED || GROUPS_CHANGED || ENV_CHANGED || CONFIG_CHANGED)); then
    restart_service "changed: binary=$BINARY_CHANGED groups=$GROUPS_CHANGED environment=$ENV_CHANGED config=$CONFIG_CHANGED"
  elif ! systemctl is-active --quiet "$UNIT"; then
    restart_service "it was not running"
  fi
  finish
}

run_reload() {
  [[ -n $(installed_alloy_version) ]] || die "Alloy is not installed on this instance: run the document with Action=install"
  systemctl is-active --quiet "$UNIT" || die "Alloy is not running on this instance: run the document with Action=install"

  plan_env_file
  stage_config
  if ((ENV_NEEDS_RESTART)); then
    # Tenant, identity or arguments changed: a reload would keep the old environment.
    apply_env_file
    apply_config
    restart_service "tenant, identity or arguments changed"
    finish
    return 0
  fi
  if [[ -f $ROOT$CONFIG_PATH ]] && cmp -s "$STAGED_CONFIG" "$ROOT$CONFIG_PATH"; then
    apply_env_file
    apply_config
    log "configuration unchanged; nothing to reload"
    finish
    return 0
  fi

  local live="$ROOT$CONFIG_PATH" backup="$ROOT$CONFIG_PATH.lgtm-fleet-previous" response status body
  rm -f "$backup"
  if [[ -f $live ]]; then cp -p "$live" "$backup"; fi
  apply_config
  response="$(curl -sS --max-time 30 -X POST -w '\n%{http_code}' "$ALLOY_URL/-/reload" 2>&1)" || true
  status="${response##*$'\n'}"
  body="${response%$'\n'*}"
  if [[ $status != 200 ]]; then
    if [[ -f $backup ]]; then mv -f "$backup" "$live"; else rm -f "$live"; fi
    die "Alloy refused to reload config version $CONFIG_VERSION (HTTP ${status:-none}); the previous file is restored and the previous configuration keeps running:
$body"
  fi
  rm -f "$backup"
  # Only now: a refused reload must not leave a newer LGTM_CONFIG_VERSION behind.
  apply_env_file
  if ((ENV_CHANGED)); then
    log "LGTM_CONFIG_VERSION=$CONFIG_VERSION reaches the process environment at the next restart"
  fi
  log "reloaded $CONFIG_PATH (config version $CONFIG_VERSION) without a restart"
  finish
}

main() {
  validate_inputs
  # Serialize runs: an enrollment and a config refresh may arrive together.
  mkdir -p "$ROOT/var/lock"
  exec 9>"$ROOT/var/lock/lgtm-fleet-alloy.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || die "another lgtm-fleet run still holds $ROOT/var/lock/lgtm-fleet-alloy.lock after 10 minutes"
  fi
  detect_platform
  read_identity
  stop_legacy_agents
  if [[ $ACTION == install ]]; then run_install; else run_reload; fi
}

main "$@"
