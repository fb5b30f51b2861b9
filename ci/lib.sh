# Shared pieces of the whole-process scripts in ci/ (sourced, not run).
# Loopback only; every process started through these is stopped on exit.

# Parses `[--rounds N] [--duration SECS] [--log] GWD_BIN...` into $ROUNDS
# and $SECS (defaults 3 and 5), $LOG (1 with --log, else 0) and the array
# $BINS (at least one); $1 is the script's usage line, printed on a bad or
# empty command line.
bench_bins_args() {
  local usage=$1
  shift
  ROUNDS=3
  SECS=5
  LOG=0
  BINS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --rounds) ROUNDS="$2"; shift 2 ;;
      --duration) SECS="$2"; shift 2 ;;
      --log) LOG=1; shift ;;
      -*) echo "unknown argument: $1" >&2; exit 2 ;;
      *) BINS+=("$1"); shift ;;
    esac
  done
  if [ "${#BINS[@]}" -eq 0 ]; then
    echo "usage: $usage" >&2
    exit 2
  fi
}

# Installs (Debian packages) whichever of HAProxy, wrk and nginx is missing.
bench_need_proxies() {
  local need=()
  command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# Makes $WORK (a fresh folder under /tmp named after $1) and $PIDS; on exit
# stops every process in $PIDS and removes $WORK.
bench_workdir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  # mktemp makes the folder private; nginx's workers (user nobody when
  # started as root) must read the page, or every answer is a 403.
  chmod 755 "$WORK"
}

# Stops every process in $PIDS and empties it.
bench_stop_all() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

bench_cleanup() {
  bench_stop_all
  rm -rf "$WORK"
}

# Starts nginx serving a 1 KiB page (and /1m.bin, 1 MiB) on 127.0.0.1:$1,
# plus any extra `listen` directives given as $2 (e.g. "listen
# 127.0.0.1:18085 http2;"), one worker, keep-alive without limits. Uses
# $NGINX and $PIN_NGINX.
bench_start_nginx() {
  mkdir -p "$WORK/www" "$WORK/nginx"
  head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/www/index.html"
  head -c 1048576 /dev/zero | tr '\0' 'y' > "$WORK/www/1m.bin"
  echo ok > "$WORK/www/ok.txt"
  cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$1;
    ${2:-}
    root $WORK/www;
  }
}
CONF
  ${PIN_NGINX:-} $NGINX -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx/" &
  PIDS+=($!)
}

# nginx's `location /upload` for bench_start_nginx's $2: takes a POST of
# up to 2 MiB, reads the whole body, then answers 200 "ok". nginx's
# `return` alone answers right after the head, so the proxy in front would
# drop (gwd) or relay the rest of the body against an answer already given,
# and the load would not measure an upload. Here the mirror module's
# `mirror_request_body` makes nginx read the body before the content
# phase (the mirror itself is a no-op subrequest), and the static module's
# 405 for a POST is served as the 200 page.
bench_upload_location() {
  echo "location /upload { client_max_body_size 2m; client_body_buffer_size 2m; mirror /upload-sink; mirror_request_body on; alias $WORK/www/ok.txt; error_page 405 =200 /ok.txt; } location = /upload-sink { internal; return 204; }"
}

# The status code of `GET /` on 127.0.0.1:$1 with Host $2 (default
# "bench"), in plain bash: the bench kit carries no curl.
http_status() {
  # 000 while nothing listens (callers poll); the group keeps bash's own
  # "connection refused" message off stderr without redirecting it for good.
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || { echo 000; return; }
  printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "${2:-bench}" >&3
  head -n1 <&3 | awk '{print $2}'
  exec 3<&-
}

# Waits (bounded: 10 s) until something listens on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "port $1 never opened" >&2; exit 1
}

# Fetches Debian trixie's haproxy 3.0 and the libraries it needs into
# $1/target/haproxy3/root with `apt-get download` (no install; the
# system's apt sources are left alone), unless already there. Run it with
# its own loader: L=$1/target/haproxy3/root/usr/lib/x86_64-linux-gnu;
# "$L/ld-linux-x86-64.so.2 --library-path $L .../usr/sbin/haproxy".
fetch_haproxy3() {
  H3="$1/target/haproxy3"
  if [ ! -x "$H3/root/usr/sbin/haproxy" ]; then
    mkdir -p "$H3/apt/lists/partial" "$H3/debs"
    echo "deb http://deb.debian.org/debian trixie main" > "$H3/apt/sources.list"
    APT=(-o "Dir::Etc::SourceList=$H3/apt/sources.list" -o "Dir::Etc::SourceParts=-"
         -o "Dir::State::Lists=$H3/apt/lists" -o "Dir::Cache=$H3/apt/cache")
    mkdir -p "$H3/apt/cache/archives/partial"
    apt-get "${APT[@]}" update -qq
    (cd "$H3/debs" && apt-get "${APT[@]}" download haproxy libc6 libssl3t64 liblua5.4-0 \
      libcrypt1 libpcre2-8-0 libjemalloc2 libstdc++6 libgcc-s1 libopentracing-c-wrapper0t64 \
      libopentracing1 2>&1 | grep -v '^W:' >&2)
    for d in "$H3"/debs/*.deb; do dpkg -x "$d" "$H3/root"; done
  fi
}

# HAProxy 3's reverse-HTTP gateway pieces (print): the registration
# frontend on 127.0.0.1:$1 (mTLS with $2/gateway.pem, clients checked
# against $3/ca.crt) and the `tunnels` backend whose server is the
# tunnels, named by the Host header.
hap_rhttp_registration() { # reg_port pem_dir pki_dir
  cat <<CONF
frontend registration
  bind 127.0.0.1:$1 ssl crt $2/gateway.pem ca-file $3/ca.crt verify required alpn h2
  tcp-request session attach-srv tunnels/origins name ssl_c_s_dn(CN)
backend tunnels
  server origins rhttp@ pool-conn-name req.hdr(host),field(1,:)
CONF
}

# The benchmarks' common gwd settings (print): one worker thread, the
# timeouts, `http-reuse` $1; BENCH_MAXPOLL=N sets `tune.maxpollevents`.
bench_gwd_common() { # http-reuse
  cat <<CONF
[global]
nbthread = 1
${BENCH_MAXPOLL:+tune.maxpollevents = $BENCH_MAXPOLL}

[defaults]
timeout.connect = "5s"
timeout.client = "30s"
timeout.server = "30s"
http-reuse = "$1"
CONF
}

# The reverse chain's common gwd settings (print): connection reuse always.
chain_gwd_common() {
  bench_gwd_common always
}

# Writes a gwd reverse chain's configs to $1/gateway.toml and
# $1/origin.toml: visitors on 127.0.0.1:$3, tunnels registering on
# 127.0.0.1:$4 (mTLS with the certificates in $5), the origin's server
# nginx on 127.0.0.1:$2, two tunnels, the tunnel named by the Host header.
chain_gwd_configs() { # dir nginx_port visitors_port registration_port pki_dir
  cat > "$1/gateway.toml" <<CONF
$(chain_gwd_common)

[frontend.visitors]
bind = [ { addr = "127.0.0.1:$3" } ]
default_backend = "tunnels"

[frontend.registration]
bind = [ { addr = "127.0.0.1:$4", ssl = true, crt = "$5/gateway.crt", key = "$5/gateway.key", ca-file = "$5/ca.crt", verify = "required", alpn = ["h2"] } ]
tcp-request.session = [ { action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" } ]

[backend.tunnels]
server = [ { name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" } ]
CONF
  cat > "$1/origin.toml" <<CONF
$(chain_gwd_common)

[frontend.from-gateway]
bind = [ { addr = "rhttp@to-gateway/gw1", nbconn = 2 } ]
default_backend = "nginx"

[backend.to-gateway]
server = [ { name = "gw1", addr = "127.0.0.1:$4", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "$5/ca.crt", crt = "$5/origin.crt", key = "$5/origin.key" } ]

[backend.nginx]
server = [ { name = "n1", addr = "127.0.0.1:$2" } ]
CONF
}

# HAProxy 3's counterpart of chain_gwd_configs, the same settings:
# $1/hap-gateway.cfg and $1/hap-origin.cfg (and the PEM files they use).
chain_haproxy_configs() { # dir nginx_port visitors_port registration_port pki_dir
  cat "$5/gateway.crt" "$5/gateway.key" > "$1/gateway.pem"
  cat "$5/origin.crt" "$5/origin.key" > "$1/origin.pem"
  local common="global
  nbthread 1
  ${BENCH_MAXPOLL:+tune.maxpollevents $BENCH_MAXPOLL}
  expose-experimental-directives
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always"
  cat > "$1/hap-gateway.cfg" <<CONF
$common
frontend visitors
  bind 127.0.0.1:$3
  default_backend tunnels
$(hap_rhttp_registration "$4" "$1" "$5")
CONF
  cat > "$1/hap-origin.cfg" <<CONF
$common
frontend from_gateway
  bind rhttp@to_gateway/gw1 nbconn 2
  default_backend nginx
backend to_gateway
  server gw1 127.0.0.1:$4 ssl alpn h2 sni str(gateway.localhost) crt $1/origin.pem ca-file $5/ca.crt verify required
backend nginx
  server n1 127.0.0.1:$2
CONF
}

# Writes the benchmarks' gwd config to $1: one worker thread, keep-alive
# to the server (`http-reuse safe`), frontend `bench` with the bind list
# items $2 (TOML, e.g. '{ addr = "127.0.0.1:18081" }'), backend `nginx`
# with one server on 127.0.0.1:$3. bench_haproxy_cfg writes HAProxy's
# with the same settings. BENCH_MAXPOLL=N (the scripts' --maxpollevents)
# sets `tune.maxpollevents` in both.
bench_gwd_toml() {
  cat > "$1" <<CONF
$(bench_gwd_common safe)

[frontend.bench]
bind = [ $2 ]
default_backend = "nginx"

[backend.nginx]
server = [ { name = "n1", addr = "127.0.0.1:$3" } ]
CONF
}

# HAProxy's counterpart of bench_gwd_toml: $1 the file, $2 the nginx
# port, then one argument per `bind` line (e.g. "127.0.0.1:18083").
bench_haproxy_cfg() {
  local file=$1 nginx=$2
  shift 2
  {
    printf 'global\n  nbthread 1\n  maxconn 4000\n'
    [ -n "${BENCH_MAXPOLL:-}" ] && printf '  tune.maxpollevents %s\n' "$BENCH_MAXPOLL"
    printf 'defaults\n  mode http\n'
    printf '  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n'
    printf '  http-reuse safe\nfrontend bench\n'
    for b in "$@"; do printf '  bind %s\n' "$b"; done
    printf '  default_backend nginx\nbackend nginx\n  server n1 127.0.0.1:%s\n' "$nginx"
  } > "$file"
}
