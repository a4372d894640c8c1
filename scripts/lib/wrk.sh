# Sourced by the bench scripts: sets wrk_bin to the machine's wrk, else to
# Debian's package unpacked under target/bench-tools (fetched when missing).
wrk_bin=$(command -v wrk || true)
if [ -z "$wrk_bin" ]; then
  wrk_tools="$(git rev-parse --show-toplevel)/target/bench-tools"
  mkdir -p "$wrk_tools"
  if [ ! -x "$wrk_tools/root/usr/bin/wrk" ]; then
    echo "Fetching wrk from Debian into $wrk_tools..." >&2
    (cd "$wrk_tools" && apt-get download wrk libluajit2-5.1-2 >/dev/null 2>&1 \
      || apt-get download wrk libluajit-5.1-2 >/dev/null)
    for deb in "$wrk_tools"/*.deb; do dpkg -x "$deb" "$wrk_tools/root"; done
  fi
  wrk_bin="$wrk_tools/root/usr/bin/wrk"
  export LD_LIBRARY_PATH="$wrk_tools/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
