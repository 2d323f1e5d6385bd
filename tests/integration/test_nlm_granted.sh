#!/bin/sh
# tests/integration/test_nlm_granted.sh - blocking NLM locks with the NLM4_GRANTED
# callback (tests/nfs/nlm_granted.py plays both lock clients and client B's rpcbind and
# NLM service; nfs3.nlm_callback_rpcbind_port points the gateway at that rpcbind), then
# a restart: the clients that held locks are told with SM_NOTIFY (tests/nfs/nsm_notify.py
# plays their rpcbind and statd).
. "$(dirname "$0")/lib.sh"

D="$T_TMP/conf"
EXP="$T_TMP/export"
mkdir -p "$D" "$EXP" "$T_TMP/state"
printf 'lock me' >"$EXP/lockme.txt"
NP=$(free_port)
MP=$(free_port)
RB=$(free_port)
cat >"$D/gateway.conf" <<CONF
gateway = { admin = "off"; log_level = "info"; state_dir = "$T_TMP/state"; };
exports = ( { name = "export"; path = "$EXP"; root_squash = false; } );
CONF
cat >"$D/nfs3.conf" <<CONF
nfs3 = { enabled = true; bind = "127.0.0.1:$NP"; mount_bind = "127.0.0.1:$MP"; rpcbind = false;
         udp = true; nlm_callback_rpcbind_port = $RB; };
CONF
start_gw start --config "$D" --module-path "$CFS_MODULE_DIR"
if wait_port "$NP"; then ok "gateway serves NFS and NLM on $NP"; else bad "gateway start: $(tail -3 "$T_TMP/gw.log")"; fi

timeout 90 $PY "$CFS_SRC/tests/nfs/nlm_granted.py" 127.0.0.1 "$NP" "$MP" /export lockme.txt "$RB" \
  >"$T_TMP/out" 2>&1
rc=$?
sed 's/^/  /' "$T_TMP/out"
T_PASS=$((T_PASS + $(grep -c '^ok - ' "$T_TMP/out")))
f=$(grep -c '^not ok - ' "$T_TMP/out")
T_FAIL=$((T_FAIL + f))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then bad "nlm_granted.py exited with $rc"; fi
grep -q "NLM blocked lock of client-b: granted, the client acknowledged" "$T_TMP/gw.log" &&
  ok "the grant is logged" || bad "no log line for the grant"
grep -q "NLM: 256 _RES calls under way: .* dropped" "$T_TMP/gw.log" &&
  ok "_RES calls beyond the bound are dropped, logged" || bad "no log line for dropped _RES calls"
check "that warning is rate-limited" test "$(grep -c '_RES calls under way' "$T_TMP/gw.log")" -le 3
check "gateway still running" kill -0 "$GW_PID"

# ---- a restart: the clients recorded as holding locks are told with SM_NOTIFY ----
stop_gw
$PY "$CFS_SRC/tests/nfs/nsm_notify.py" "$RB" 20 3 >"$T_TMP/notify" 2>&1 &
NPID=$!
n=0
while ! grep -q '^ready' "$T_TMP/notify" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
start_gw start --config "$D" --module-path "$CFS_MODULE_DIR"
if wait_port "$NP"; then ok "gateway restarted"; else bad "gateway restart"; fi
wait "$NPID"
sed 's/^/  /' "$T_TMP/notify"
state=$(sed -n 's/.*NSM state \([0-9]*\): telling 3 client(s).*/\1/p' "$T_TMP/gw.log" | tail -1)
check "the restart logs the new NSM state and 3 clients to tell" test -n "$state"
check "the 3 clients' statd got SM_NOTIFY" test "$(grep -c '^notify ' "$T_TMP/notify")" -eq 3
if grep -q "SM_NOTIFY to .*(127.0.0.9)" "$T_TMP/gw.log"; then
  bad "a caller name with a newline in it made an address to notify"
else
  ok "a caller name with a newline in it stays one record (notified at its own address)"
fi
check "SM_NOTIFY carries the new state ($state) and this host's name" \
  grep -q "^notify $(hostname) ${state:-x} 127.0.0.1" "$T_TMP/notify"
grep -q "SM_NOTIFY to client-a (127.0.0.1): answered" "$T_TMP/gw.log" &&
  ok "the answered SM_NOTIFY is logged" || bad "no log line for the answered SM_NOTIFY"
grep -q "NLM grace period" "$T_TMP/gw.log" && ok "the restart starts a grace period" ||
  bad "no grace period after the restart"
finish
