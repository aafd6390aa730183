// Known answers for Cloister's protocol/cometbft, computed with CometBFT v0.38.17's own code:
// Merkle roots, a data hash, a validator set hash, vote sign bytes, an unusual header's hash and
// times as CometBFT's JSON writes them. Output: JSON on stdout (go_known_answers.json).
// Run by make-vectors.sh as a command inside a copy of the cometbft v0.38.17 module.
package main

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/crypto/merkle"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmtversion "github.com/cometbft/cometbft/proto/tendermint/version"
	"github.com/cometbft/cometbft/types"
)

func h(b []byte) string { return hex.EncodeToString(b) }

func seq(n int, fill func(i int) []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fill(i)
	}
	return out
}

func hexes(items [][]byte) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = h(it)
	}
	return out
}

func main() {
	out := map[string]any{}

	// merkle.HashFromByteSlices (crypto/merkle/tree.go)
	type mcase struct {
		Name  string   `json:"name"`
		Items []string `json:"items"`
		Root  string   `json:"root"`
	}
	mcases := []struct {
		name  string
		items [][]byte
	}{
		{"empty", [][]byte{}},
		{"single", [][]byte{{1, 2, 3}}},
		{"single blank", [][]byte{{}}},
		{"two", [][]byte{{1, 2, 3}, {4, 5, 6}}},
		{"three", [][]byte{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}},
		{"many", [][]byte{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}}},
	}
	for n := 4; n <= 9; n++ {
		mcases = append(mcases, struct {
			name  string
			items [][]byte
		}{"bytes 0..n-1, n=" + string(rune('0'+n)), seq(n, func(i int) []byte { return []byte{byte(i)} })})
	}
	var ms []mcase
	for _, c := range mcases {
		ms = append(ms, mcase{c.name, hexes(c.items), h(merkle.HashFromByteSlices(c.items))})
	}
	out["merkle"] = ms

	// types.Txs.Hash (types/tx.go)
	txs := types.Txs{types.Tx("k1=v1"), types.Tx(""), types.Tx("a-longer-transaction=with-a-value")}
	out["txs"] = map[string]any{"txs": hexes([][]byte{txs[0], txs[1], txs[2]}), "hash": h(txs.Hash())}

	// types.ValidatorSet.Hash (types/validator_set.go), with a tie in power broken by address.
	var vals []*types.Validator
	var vjson []map[string]any
	for i, power := range []int64{5, 7, 5, 1, 7} {
		pk := ed25519.GenPrivKeyFromSecret([]byte{byte('a' + i)}).PubKey()
		vals = append(vals, types.NewValidator(pk, power))
		vjson = append(vjson, map[string]any{"pubkey": h(pk.Bytes()), "address": h(pk.Address()), "power": power})
	}
	set := types.NewValidatorSet(vals)
	var sorted []string
	for _, v := range set.Validators {
		sorted = append(sorted, h(v.PubKey.Bytes()))
	}
	out["validator_set"] = map[string]any{"validators": vjson, "sorted_pubkeys": sorted, "hash": h(set.Hash())}

	// Commit.VoteSignBytes (types/block.go, types/vote.go, types/canonical.go)
	bid := types.BlockID{
		Hash:          seq(1, func(int) []byte { return []byte("0123456789abcdef0123456789abcdef") })[0],
		PartSetHeader: types.PartSetHeader{Total: 3, Hash: []byte("fedcba9876543210fedcba9876543210")},
	}
	addr := make([]byte, 20)
	sig := make([]byte, 64)
	type scase struct {
		Name      string `json:"name"`
		ChainID   string `json:"chain_id"`
		Height    string `json:"height"`
		Round     int32  `json:"round"`
		BlockHash string `json:"block_hash"`
		PartTotal uint32 `json:"part_set_total"`
		PartHash  string `json:"part_set_hash"`
		Flag      int    `json:"block_id_flag"`
		Seconds   string `json:"timestamp_seconds"`
		Nanos     int    `json:"timestamp_nanos"`
		SignBytes string `json:"sign_bytes"`
	}
	var ss []scase
	for _, c := range []struct {
		name   string
		chain  string
		height int64
		round  int32
		flag   types.BlockIDFlag
		ts     time.Time
	}{
		{"commit, round 0", "test-chain", 5, 0, types.BlockIDFlagCommit, time.Unix(1796457600, 123456789).UTC()},
		{"commit, round 3, whole second", "c", 1 << 40, 3, types.BlockIDFlagCommit, time.Unix(1796457600, 0).UTC()},
		{"nil vote", "test-chain", 7, 1, types.BlockIDFlagNil, time.Unix(1, 1).UTC()},
		{"empty chain id, time before 1970", "", 1, 0, types.BlockIDFlagCommit, time.Unix(-1, 5).UTC()},
	} {
		commit := &types.Commit{Height: c.height, Round: c.round, BlockID: bid,
			Signatures: []types.CommitSig{{BlockIDFlag: c.flag, ValidatorAddress: addr, Timestamp: c.ts, Signature: sig}}}
		ss = append(ss, scase{c.name, c.chain, itoa(c.height), c.round, h(bid.Hash), bid.PartSetHeader.Total,
			h(bid.PartSetHeader.Hash), int(c.flag), itoa(c.ts.Unix()), c.ts.Nanosecond(), h(commit.VoteSignBytes(c.chain, 0))})
	}
	out["sign_bytes"] = ss

	// Header.Hash (types/block.go) of an unusual header: empty last block id, 8-byte app hash,
	// a height above 2^53, empty optional hashes, a time with zero nanoseconds.
	hdr := types.Header{
		Version:            cmtversion.Consensus{Block: 11, App: 0},
		ChainID:            "x",
		Height:             (1 << 53) + 1,
		Time:               time.Unix(1796457600, 0).UTC(),
		LastBlockID:        types.BlockID{},
		ValidatorsHash:     bid.Hash,
		NextValidatorsHash: bid.Hash,
		AppHash:            []byte{2, 0, 0, 0, 0, 0, 0, 0},
		ProposerAddress:    addr,
	}
	hj, _ := cmtjson.Marshal(hdr)
	out["header"] = map[string]any{"json": json.RawMessage(hj), "hash": h(hdr.Hash())}

	// Times as CometBFT's JSON writes them (libs/json: UTC, RFC 3339 with trailing zeros trimmed).
	var tj []map[string]any
	for _, t := range []time.Time{
		time.Unix(1796457600, 0), time.Unix(1796457600, 100000000), time.Unix(1796457600, 120),
		time.Unix(1796457600, 999999999), time.Time{}, time.Unix(-1, 999999999), time.Unix(253402300799, 0),
	} {
		b, _ := cmtjson.Marshal(t)
		var s string
		_ = json.Unmarshal(b, &s)
		tj = append(tj, map[string]any{"json": s, "seconds": itoa(t.Unix()), "nanos": t.Nanosecond()})
	}
	out["times"] = tj

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }
