#!/usr/bin/env bash
# Writes the CometBFT v0.38.17 vectors of this folder (see README.md). Needs ~/go/bin/cometbft
# (go install github.com/cometbft/cometbft/cmd/cometbft@v0.38.17), go, curl and jq; uses loopback
# ports 29000-29023 and /tmp/cmtv1, /tmp/cmtv4, /tmp/cmtkat; stops every node it started.
set -euo pipefail
CMT=${CMT:-$HOME/go/bin/cometbft}
OUT=$(cd "${OUT:-$(dirname "$0")}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
"$CMT" version | grep -qx '0.38.17'
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
height_of() { jq -r .result.height; }
save() { # save <prefix> <rpc> <height>: the /commit, /block and /validators answers, as CometBFT wrote them
  curl -sf "$2/commit?height=$3" >"$OUT/$1.commit.$3.json"
  curl -sf "$2/block?height=$3" >"$OUT/$1.block.$3.json"
  curl -sf "$2/validators?height=$3" >"$OUT/$1.validators.$3.json"
}

# ---- 1. One validator, built-in kvstore app; P2P 29000, RPC 29001 -----------------------------
H=/tmp/cmtv1
RPC=http://127.0.0.1:29001
rm -rf "$H"
"$CMT" init --home "$H" >/dev/null 2>&1
"$CMT" start --home "$H" --proxy_app=kvstore \
  --rpc.laddr tcp://127.0.0.1:29001 --p2p.laddr tcp://127.0.0.1:29000 >"$H/node.log" 2>&1 &
PIDS+=($!); ONE=$!
until curl -sf "$RPC/status" >/dev/null; do sleep 0.5; done
sleep 3
H1=$(curl -sf "$RPC/broadcast_tx_commit?tx=\"k1=v1\"" | height_of)
# Three transactions sent without waiting, so that they share a block.
for tx in k2=v2 key-three=value-three-is-longer "k4=$(printf 'x%.0s' $(seq 1 100))"; do
  curl -sf "$RPC/broadcast_tx_sync?tx=\"$tx\"" >/dev/null
done
sleep 3
LAST=$(curl -sf "$RPC/status" | jq -r .result.sync_info.latest_block_height)
H3=""; H0=""
for h in $(seq 2 "$LAST"); do
  n=$(curl -sf "$RPC/block?height=$h" | jq '.result.block.data.txs | length')
  if [ "$n" -ge 3 ] && [ -z "$H3" ]; then H3=$h; fi
  if [ "$n" -eq 0 ] && [ "$h" -gt "$H1" ] && [ -z "$H0" ]; then H0=$h; fi
done
echo "one node: one tx at $H1, three txs at $H3, no tx at $H0"
for h in "$H1" "$H3" "$H0"; do save one_node "$RPC" "$h"; done
jq .pub_key "$H/config/priv_validator_key.json" >"$OUT/one_node.priv_validator_pub_key.json"
cp "$H/config/genesis.json" "$OUT/one_node.genesis.json"
kill "$ONE"

# ---- 2. Four validators on loopback: node i has P2P 2901i, RPC 2902i ---------------------------
# Genesis powers changed from 1,1,1,1 to 10,10,30,40, so that CometBFT's order of the set (power
# descending, then address ascending) differs from genesis order and has a tie.
D=/tmp/cmtv4
rm -rf "$D"
"$CMT" testnet --v 4 --o "$D" --populate-persistent-peers \
  --hostname 127.0.0.1 --hostname 127.0.0.1 --hostname 127.0.0.1 --hostname 127.0.0.1 >/dev/null 2>&1
peers=""
for i in 0 1 2 3; do peers="$peers${peers:+,}$("$CMT" show-node-id --home "$D/node$i")@127.0.0.1:2901$i"; done
jq '.validators[0].power="10" | .validators[1].power="10" | .validators[2].power="30" | .validators[3].power="40"' \
  "$D/node0/config/genesis.json" >"$D/genesis.json"
NODE=()
for i in 0 1 2 3; do
  c="$D/node$i/config/config.toml"
  cp "$D/genesis.json" "$D/node$i/config/genesis.json"
  sed -i -e 's|^proxy_app = .*|proxy_app = "kvstore"|' \
    -e "s|^laddr = \"tcp://127.0.0.1:26657\"|laddr = \"tcp://127.0.0.1:2902$i\"|" \
    -e "s|^laddr = \"tcp://0.0.0.0:26656\"|laddr = \"tcp://127.0.0.1:2901$i\"|" \
    -e "s|^persistent_peers = .*|persistent_peers = \"$peers\"|" \
    -e 's|^pprof_laddr = .*|pprof_laddr = ""|' -e 's|^prometheus = .*|prometheus = false|' "$c"
  grep -q "2902$i\"" "$c" && grep -q "2901$i\"" "$c"   # both listen addresses were rewritten
  "$CMT" start --home "$D/node$i" >"$D/node$i.log" 2>&1 &
  PIDS+=($!); NODE+=($!)
done
RPC=http://127.0.0.1:29021
until [ "$(curl -sf "$RPC/status" | jq -r .result.sync_info.latest_block_height 2>/dev/null || echo 0)" -ge 3 ]; do
  sleep 0.5
done
H4=$(curl -sf "$RPC/broadcast_tx_commit?tx=\"four=nodes\"" | height_of)
sleep 3
save four_nodes "$RPC" "$H4"
# Stop node0 (power 10): the other 80 of 90 go on; node0's slot in each commit is absent (flag 1),
# and a height whose round-0 proposer is node0 is decided in round 1 or later.
kill "${NODE[0]}"
sleep 1
HA=$(curl -sf "$RPC/broadcast_tx_commit?tx=\"node0=stopped\"" | height_of)
sleep 3
save four_nodes "$RPC" "$HA"
HR=""
for _ in $(seq 1 120); do
  LAST=$(curl -sf "$RPC/status" | jq -r .result.sync_info.latest_block_height)
  for h in $(seq "$HA" $((LAST - 1))); do
    r=$(curl -sf "$RPC/commit?height=$h" | jq .result.signed_header.commit.round)
    if [ "$r" -ge 1 ]; then HR=$h; break 2; fi
  done
  sleep 1
done
[ -n "$HR" ] && save four_nodes "$RPC" "$HR"
echo "four nodes: 4 signatures at $H4, node0 absent at $HA, round >= 1 at ${HR:-none}"
cp "$D/genesis.json" "$OUT/four_nodes.genesis.json"
cleanup; PIDS=()

# ---- 3. Known answers from CometBFT's own Go code ----------------------------------------------
# known_answers.go runs as a command inside a copy of the cometbft v0.38.17 module (from the Go
# module cache), so it builds with exactly that module's dependencies, offline.
K=/tmp/cmtkat
rm -rf "$K"
cp -r "$(go env GOMODCACHE)/github.com/cometbft/cometbft@v0.38.17" "$K"
chmod -R u+w "$K"
mkdir -p "$K/cmd/cloister-known-answers"
cp "$HERE/known_answers.go" "$K/cmd/cloister-known-answers/main.go"
(cd "$K" && GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off go run ./cmd/cloister-known-answers) >"$OUT/go_known_answers.json"
echo "known answers written"
