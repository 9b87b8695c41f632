package storetest

import (
	"bytes"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

// keyEpoch is a whole second, so keys created at keyEpoch and at
// keyEpoch+500ms check that the index sorts times of different widths.
var keyEpoch = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

func testKey(t *testing.T, id string, createdAt time.Time) auth.Key {
	t.Helper()
	hash := make([]byte, 32)
	if _, err := rand.Read(hash); err != nil {
		t.Fatal(err)
	}
	// Bytes that text encodings mangle must survive too.
	hash[0], hash[1], hash[2] = 0x00, 0xff, '\n'
	return auth.Key{ID: id, Hash: hash, Projects: []string{"alpha", "beta"}, Role: registry.RoleProducer, Description: "ci deploys", CreatedAt: createdAt}
}

func mustCreateKey(t *testing.T, f *fixture, k auth.Key) {
	t.Helper()
	if err := f.store.CreateKey(ctx, k); err != nil {
		t.Fatalf("create key %s: %v", k.ID, err)
	}
}

func mustGetKey(t *testing.T, f *fixture, id string) auth.Key {
	t.Helper()
	k, err := f.store.GetKey(ctx, id)
	if err != nil {
		t.Fatalf("get key %s: %v", id, err)
	}
	return k
}

func timePtr(t time.Time) *time.Time { return &t }

func testKeyCreateAndGet(t *testing.T, f *fixture) {
	t.Run("a created key reads back as written, its hash byte for byte", func(t *testing.T) {
		want := testKey(t, "roundtrip", keyEpoch.Add(123456789*time.Nanosecond))
		mustCreateKey(t, f, want)
		got := mustGetKey(t, f, "roundtrip")
		if !bytes.Equal(got.Hash, want.Hash) {
			t.Fatalf("hash %x, want %x", got.Hash, want.Hash)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("key (-want +got):\n%s", diff)
		}
	})
	t.Run("a key with one project and no description keeps them so", func(t *testing.T) {
		want := testKey(t, "single", keyEpoch)
		want.Projects, want.Description, want.Role = []string{"alpha"}, "", registry.RoleConsumer
		mustCreateKey(t, f, want)
		if diff := cmp.Diff(want, mustGetKey(t, f, "single")); diff != "" {
			t.Fatalf("key (-want +got):\n%s", diff)
		}
	})
	t.Run("creating an existing id is a conflict and keeps the first key", func(t *testing.T) {
		first := testKey(t, "dup", keyEpoch)
		mustCreateKey(t, f, first)
		second := testKey(t, "dup", keyEpoch.Add(time.Hour))
		wantCode(t, f.store.CreateKey(ctx, second), registry.CodeConflict, "already exists")
		if got := mustGetKey(t, f, "dup"); !bytes.Equal(got.Hash, first.Hash) || !got.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("the first key was overwritten: %+v", got)
		}
	})
	t.Run("a missing key is not_found", func(t *testing.T) {
		_, err := f.store.GetKey(ctx, "nosuchkey")
		wantCode(t, err, registry.CodeNotFound, "nosuchkey", "kitaru admin keys list")
	})
	invalid := []struct {
		name   string
		change func(*auth.Key)
		msg    string
	}{
		{"a key without projects is refused", func(k *auth.Key) { k.Projects = nil }, "--project"},
		{"a key with an invalid project is refused", func(k *auth.Key) { k.Projects = []string{"Not Valid"} }, "project"},
		{"a key with an unknown role is refused", func(k *auth.Key) { k.Role = "admin" }, "producer or consumer"},
		{"a key without a hash is refused", func(k *auth.Key) { k.Hash = nil }, "hash"},
		{"a key without an id is refused", func(k *auth.Key) { k.ID = "" }, "id"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			k := testKey(t, "invalid", keyEpoch)
			tt.change(&k)
			wantCode(t, f.store.CreateKey(ctx, k), registry.CodeInvalidArgument, tt.msg)
		})
	}
	t.Run("a refused key is not stored", func(t *testing.T) {
		_, err := f.store.GetKey(ctx, "invalid")
		wantCode(t, err, registry.CodeNotFound)
	})
}

func testListKeysOldestFirst(t *testing.T, f *fixture) {
	t.Run("an empty table lists no keys", func(t *testing.T) {
		keys, err := f.store.ListKeys(ctx)
		if err != nil || keys == nil || len(keys) != 0 {
			t.Fatalf("got %v, %v; want an empty, non-nil list", keys, err)
		}
	})
	// Created out of order; whole and fractional seconds interleave.
	created := map[string]time.Time{
		"third":  keyEpoch.Add(2 * time.Second),
		"first":  keyEpoch,
		"second": keyEpoch.Add(500 * time.Millisecond),
		"fourth": keyEpoch.Add(2*time.Second + time.Nanosecond),
	}
	for _, id := range []string{"third", "first", "fourth", "second"} {
		mustCreateKey(t, f, testKey(t, id, created[id]))
	}
	keys, err := f.store.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("keys come oldest first", func(t *testing.T) {
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		if diff := cmp.Diff([]string{"first", "second", "third", "fourth"}, ids); diff != "" {
			t.Fatalf("order (-want +got):\n%s", diff)
		}
	})
	t.Run("listed keys carry everything but the hash", func(t *testing.T) {
		for _, k := range keys {
			if k.Hash != nil {
				t.Errorf("key %s lists its hash", k.ID)
			}
			want := testKey(t, k.ID, created[k.ID])
			want.Hash = nil
			if diff := cmp.Diff(want, k); diff != "" {
				t.Errorf("key %s (-want +got):\n%s", k.ID, diff)
			}
		}
	})
}

func testRevokeKey(t *testing.T, f *fixture) {
	mustCreateKey(t, f, testKey(t, "revoked", keyEpoch))
	first := keyEpoch.Add(time.Hour)
	t.Run("revoking sets revoked_at and returns the key", func(t *testing.T) {
		k, err := f.store.RevokeKey(ctx, "revoked", first)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(timePtr(first), k.RevokedAt); diff != "" {
			t.Fatalf("revoked_at (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(timePtr(first), mustGetKey(t, f, "revoked").RevokedAt); diff != "" {
			t.Fatalf("stored revoked_at (-want +got):\n%s", diff)
		}
	})
	t.Run("revoking again keeps the first time and is not an error", func(t *testing.T) {
		k, err := f.store.RevokeKey(ctx, "revoked", first.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(timePtr(first), k.RevokedAt); diff != "" {
			t.Fatalf("revoked_at (-want +got):\n%s", diff)
		}
	})
	t.Run("the list shows the revocation", func(t *testing.T) {
		keys, err := f.store.ListKeys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("got %v, %v", keys, err)
		}
		if diff := cmp.Diff(timePtr(first), keys[0].RevokedAt); diff != "" {
			t.Fatalf("listed revoked_at (-want +got):\n%s", diff)
		}
	})
	t.Run("revoking a missing key is not_found and creates nothing", func(t *testing.T) {
		_, err := f.store.RevokeKey(ctx, "ghost", first)
		wantCode(t, err, registry.CodeNotFound, "ghost")
		_, err = f.store.GetKey(ctx, "ghost")
		wantCode(t, err, registry.CodeNotFound)
	})
	t.Run("concurrent revocations all report the one that was recorded", func(t *testing.T) {
		mustCreateKey(t, f, testKey(t, "raced", keyEpoch.Add(time.Second)))
		const n = 8
		got := make([]auth.Key, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { got[i], errs[i] = f.store.RevokeKey(ctx, "raced", first.Add(time.Duration(i)*time.Minute)) })
		}
		wg.Wait()
		stored := mustGetKey(t, f, "raced").RevokedAt
		if stored == nil {
			t.Fatal("the key is not revoked")
		}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("revocation %d: %v", i, errs[i])
			}
			if diff := cmp.Diff(stored, got[i].RevokedAt); diff != "" {
				t.Errorf("revocation %d returned another time (-stored +returned):\n%s", i, diff)
			}
		}
	})
}

func testTouchKey(t *testing.T, f *fixture) {
	mustCreateKey(t, f, testKey(t, "touched", keyEpoch))
	lastUsed := func(t *testing.T) (stored, listed *time.Time) {
		t.Helper()
		keys, err := f.store.ListKeys(ctx)
		if err != nil || len(keys) != 1 {
			t.Fatalf("list: %v, %v", keys, err)
		}
		return mustGetKey(t, f, "touched").LastUsedAt, keys[0].LastUsedAt
	}
	at := keyEpoch.Add(time.Hour)
	steps := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"the first use is recorded", at, at},
		{"a use within a minute is not recorded", at.Add(30 * time.Second), at},
		{"a use exactly a minute later is not recorded", at.Add(time.Minute), at},
		{"a use over a minute later is recorded", at.Add(time.Minute + time.Millisecond), at.Add(time.Minute + time.Millisecond)},
		{"an older use never moves it back", at, at.Add(time.Minute + time.Millisecond)},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := f.store.TouchKey(ctx, "touched", step.at); err != nil {
				t.Fatal(err)
			}
			stored, listed := lastUsed(t)
			if diff := cmp.Diff(timePtr(step.want), stored); diff != "" {
				t.Errorf("stored last_used_at (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(timePtr(step.want), listed); diff != "" {
				t.Errorf("listed last_used_at (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("touching a missing key is not an error and creates nothing", func(t *testing.T) {
		if err := f.store.TouchKey(ctx, "ghost", at); err != nil {
			t.Fatal(err)
		}
		_, err := f.store.GetKey(ctx, "ghost")
		wantCode(t, err, registry.CodeNotFound)
	})
}
