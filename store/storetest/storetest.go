// Package storetest is the conformance suite of store.Store. Every backend's
// test file calls Run with a function that opens a fresh, empty store, and
// Bench for the shared benchmarks.
//
// The suite has these tiers: CRUD per aggregate, transactions (the
// read-modify-write updater and the multi-step object operations), the
// callers' transactions of InTx, events and callbacks, and concurrency. Every subtest opens its own store and runs in parallel.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs the conformance suite. open must return a fresh, empty store; the
// suite closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tiers := []struct {
		name  string
		tests []test
	}{
		{"CRUD", []test{
			{"Tenants", testTenants},
			{"Users", testUsers},
			{"Apps", testApps},
			{"Tokens", testTokens},
			{"TokenExpiry", testTokenExpiry},
			{"APIKeys", testAPIKeys},
			{"Buckets", testBuckets},
			{"TenantIsolation", testTenantIsolation},
			{"Objects", testObjects},
			{"ListOrder", testListOrder},
			{"ListPagination", testListPagination},
			{"ListPrefix", testListPrefix},
			{"Uploads", testUploads},
			{"BlobDeletionQueue", testBlobDeletionQueue},
			{"TimesRoundTrip", testTimesRoundTrip},
			{"TenantSettings", testTenantSettings},
			{"UserIdentityFields", testUserIdentityFields},
			{"Orgs", testOrgs},
			{"AppFields", testAppFields},
			{"AppGrants", testAppGrants},
			{"TokenFields", testTokenFields},
			{"DeleteUserTokens", testDeleteUserTokens},
			{"Challenges", testChallenges},
			{"SigningKeys", testSigningKeys},
			{"AuditFilters", testAuditFilters},
			{"AuditPaging", testAuditPaging},
			{"Jobs", testJobs},
			{"JobVersionFields", testJobVersionFields},
			{"ListJobs", testListJobs},
			{"JobEvents", testJobEvents},
			{"ActiveVersions", testActiveVersions},
			{"Datasets", testDatasets},
			{"Samples", testSamples},
			{"SampleFilters", testSampleFilters},
			{"UpdateSample", testUpdateSample},
			{"ImportTasks", testImportTasks},
			{"DatasetVersions", testDatasetVersions},
			{"ExportTasks", testExportTasks},
			{"Workspaces", testWorkspaces},
			{"Models", testModels},
			{"ListModels", testListModels},
			{"Services", testServices},
			{"ListServices", testListServices},
			{"Instances", testInstances},
		}},
		{"Transactions", []test{
			{"UpdateUser", testUpdateUser},
			{"UpdateUserFnError", testUpdateUserFnError},
			{"UpdateUserConflict", testUpdateUserConflict},
			{"CommitReplaces", testCommitReplaces},
			{"DeleteObjectQueuesBlob", testDeleteObjectQueuesBlob},
			{"DeleteBucketNotEmpty", testDeleteBucketNotEmpty},
			{"DeleteUserCascades", testDeleteUser},
			{"DeleteAppCascades", testDeleteApp},
			{"DeleteOrgNotEmpty", testDeleteOrg},
			{"UpdateVersionFnError", testUpdateVersionFnError},
			{"DeleteJobCascades", testDeleteJob},
			{"AddSamplesWithTask", testAddSamplesTask},
			{"DeleteDatasetCascades", testDeleteDataset},
			{"ModelInUse", testModelInUse},
		}},
		{"Tx", txTests()},
		{"Queue", queueTests()},
		{"Lease", leaseTests()},
		{"Events", eventTests()},
		{"Callbacks", callbackTests()},
		{"Concurrency", []test{
			{"UpdateUserNoLostUpdates", testUpdateUserConcurrent},
			{"CommitDistinctKeys", testCommitConcurrentDistinct},
			{"CommitSameKey", testCommitConcurrentSameKey},
			{"DeleteBucketRacesCommit", testDeleteBucketRace},
			{"CreateTenantRace", testCreateTenantRace},
			{"ConsumeTokenOnce", testConsumeTokenOnce},
			{"UpdateChallengeNoLostUpdates", testUpdateChallengeConcurrent},
			{"DeleteOrgRacesInserts", testDeleteOrgRacesCreateUser},
			{"CreateVersionNumbering", testCreateVersionConcurrent},
			{"UpdateVersionEventsInOrder", testUpdateVersionConcurrent},
			{"CreateDatasetVersionNumbering", testCreateDatasetVersionConcurrent},
			{"AddSamplesOverlapping", testAddSamplesConcurrent},
			{"DeleteModelRacesDeploy", testDeleteModelRacesDeploy},
			{"UpdateModelServiceNoLostUpdates", testUpdateModelServiceConcurrent},
			{"ModelCountExact", testModelCountConcurrent},
		}},
	}
	for _, tier := range tiers {
		t.Run(tier.name, func(t *testing.T) {
			for _, tt := range tier.tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					s := open(t)
					t.Cleanup(func() { _ = s.Close() })
					tt.fn(t, s)
				})
			}
		})
	}
}

// epoch is the fixed time the suite's records are stamped with.
var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ctxFor(t testing.TB) context.Context { return t.Context() }

func wantErr(t testing.TB, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// MustTenant creates a tenant with the given name.
func MustTenant(t testing.TB, s store.Store, name string) *atelier.Tenant {
	t.Helper()
	tn := &atelier.Tenant{ID: atelier.NewID(), Name: name, CreatedAt: epoch}
	must(t, s.CreateTenant(ctxFor(t), tn), "CreateTenant")
	return tn
}

// MustUser creates an active member of the tenant.
func MustUser(t testing.TB, s store.Store, tenantID, name string) *atelier.User {
	t.Helper()
	u := &atelier.User{
		ID: atelier.NewID(), TenantID: tenantID, Email: name + "@example.com", Name: name,
		Role: atelier.RoleMember, Status: atelier.UserActive, PasswordHash: "$argon2id$x",
		PasswordChangedAt: epoch, PasswordHistory: []string{}, CreatedAt: epoch, UpdatedAt: epoch,
	}
	must(t, s.CreateUser(ctxFor(t), u), "CreateUser")
	return u
}

// MustBucket creates a bucket in the tenant.
func MustBucket(t testing.TB, s store.Store, tenantID, name string) *atelier.Bucket {
	t.Helper()
	b := &atelier.Bucket{ID: atelier.NewID(), TenantID: tenantID, Name: name, CreatedAt: epoch}
	must(t, s.CreateBucket(ctxFor(t), b), "CreateBucket")
	return b
}

// MustBegin records a pending upload of key into the bucket.
func MustBegin(t testing.TB, s store.Store, bucketID, key string) *store.Upload {
	t.Helper()
	u := &store.Upload{ID: atelier.NewID(), BucketID: bucketID, Key: key, BlobKey: "blob/" + atelier.NewID(),
		CreatedAt: epoch, UpdatedAt: epoch}
	must(t, s.BeginUpload(ctxFor(t), u), "BeginUpload")
	return u
}

// objectFor returns the object that committing u makes visible.
func objectFor(u *store.Upload, size int64) *atelier.Object {
	return &atelier.Object{
		BucketID: u.BucketID, Key: u.Key, BlobKey: u.BlobKey, Size: size,
		ETag: "d41d8cd98f00b204e9800998ecf8427e", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		ContentType: "application/octet-stream", LastModified: epoch,
	}
}

// MustPut commits a new object with key into the bucket and returns it.
func MustPut(t testing.TB, s store.Store, bucketID, key string) *atelier.Object {
	t.Helper()
	u := MustBegin(t, s, bucketID, key)
	o := objectFor(u, int64(len(key)))
	if _, err := s.CommitUpload(ctxFor(t), u.ID, o, epoch); err != nil {
		t.Fatalf("CommitUpload(%q): %v", key, err)
	}
	return o
}

func keysOf(objs []*atelier.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

func testTenants(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	b := MustTenant(t, s, "beta")
	a := MustTenant(t, s, "alpha")
	got, err := s.GetTenant(ctx, b.ID)
	must(t, err, "GetTenant")
	if !reflect.DeepEqual(got, b) {
		t.Errorf("GetTenant = %+v, want %+v", got, b)
	}
	got, err = s.GetTenantByName(ctx, "alpha")
	must(t, err, "GetTenantByName")
	if got.ID != a.ID {
		t.Errorf("GetTenantByName(alpha).ID = %q, want %q", got.ID, a.ID)
	}
	err = s.CreateTenant(ctx, &atelier.Tenant{ID: atelier.NewID(), Name: "alpha", CreatedAt: epoch})
	wantErr(t, err, store.ErrConflict, "CreateTenant with a taken name")
	_, err = s.GetTenant(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetTenant(unknown)")
	_, err = s.GetTenantByName(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetTenantByName(unknown)")
	list, err := s.ListTenants(ctx)
	must(t, err, "ListTenants")
	if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "beta" {
		t.Errorf("ListTenants = %v, want alpha, beta", list)
	}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	ann := MustUser(t, s, t1.ID, "ann")
	bob := MustUser(t, s, t1.ID, "bob")
	// The same email and name in another tenant is another user.
	ann2 := MustUser(t, s, t2.ID, "ann")

	got, err := s.GetUser(ctx, ann.ID)
	must(t, err, "GetUser")
	if !reflect.DeepEqual(got, ann) {
		t.Errorf("GetUser = %+v, want %+v", got, ann)
	}
	got, err = s.GetUserByEmail(ctx, t1.ID, "bob@example.com")
	must(t, err, "GetUserByEmail")
	if got.ID != bob.ID {
		t.Errorf("GetUserByEmail = %q, want %q", got.ID, bob.ID)
	}
	got, err = s.GetUserByName(ctx, t2.ID, "ann")
	must(t, err, "GetUserByName")
	if got.ID != ann2.ID {
		t.Errorf("GetUserByName in t2 = %q, want %q", got.ID, ann2.ID)
	}
	_, err = s.GetUserByEmail(ctx, t2.ID, "bob@example.com")
	wantErr(t, err, store.ErrNotFound, "GetUserByEmail in the wrong tenant")
	_, err = s.GetUser(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetUser(unknown)")
	_, err = s.GetUserByName(ctx, t1.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetUserByName(unknown)")

	found, err := s.FindUsersByEmail(ctx, "ann@example.com")
	must(t, err, "FindUsersByEmail")
	ids := []string{}
	for _, u := range found {
		ids = append(ids, u.ID)
	}
	if want := []string{ann.ID, ann2.ID}; !sameSet(ids, want) {
		t.Errorf("FindUsersByEmail = %v, want %v", ids, want)
	}
	found, err = s.FindUsersByEmail(ctx, "nobody@example.com")
	must(t, err, "FindUsersByEmail(unknown)")
	if len(found) != 0 {
		t.Errorf("FindUsersByEmail(unknown) = %d users, want 0", len(found))
	}

	dupEmail := *bob
	dupEmail.ID, dupEmail.Name = atelier.NewID(), "bob2"
	wantErr(t, s.CreateUser(ctx, &dupEmail), store.ErrConflict, "CreateUser with a taken email")
	dupName := *bob
	dupName.ID, dupName.Email = atelier.NewID(), "other@example.com"
	wantErr(t, s.CreateUser(ctx, &dupName), store.ErrConflict, "CreateUser with a taken name")

	list, err := s.ListUsers(ctx, t1.ID)
	must(t, err, "ListUsers")
	if len(list) != 2 || list[0].ID != ann.ID || list[1].ID != bob.ID {
		t.Errorf("ListUsers(t1) = %v, want ann, bob", list)
	}
	n, err := s.CountUsers(ctx)
	must(t, err, "CountUsers")
	if n != 3 {
		t.Errorf("CountUsers = %d, want 3", n)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func testApps(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	a := &atelier.App{ID: atelier.NewID(), TenantID: tn.ID, ClientID: atelier.CLIClientID, Name: "CLI", BuiltIn: true,
		Access: atelier.AppAccessAll, RedirectURIs: []string{}, CreatedAt: epoch}
	must(t, s.CreateApp(ctx, a), "CreateApp")
	b := &atelier.App{ID: atelier.NewID(), TenantID: tn.ID, ClientID: "web", Name: "Web", ISV: true,
		Access: atelier.AppAccessGranted, RedirectURIs: []string{"https://web.example.com/cb", "http://127.0.0.1/cb"},
		IDTokenTTL: 600, SecretHash: "$argon2id$web", CreatedAt: epoch, UpdatedAt: epoch.Add(time.Second)}
	must(t, s.CreateApp(ctx, b), "CreateApp")
	for _, want := range []*atelier.App{a, b} {
		got, err := s.GetAppByClientID(ctx, want.ClientID)
		must(t, err, "GetAppByClientID")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetAppByClientID = %+v, want %+v", got, want)
		}
	}
	dup := *b
	dup.ID = atelier.NewID()
	wantErr(t, s.CreateApp(ctx, &dup), store.ErrConflict, "CreateApp with a taken client id")
	_, err := s.GetAppByClientID(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetAppByClientID(unknown)")
}

func newToken(userID, accessKey string, expires time.Time) *atelier.Token {
	kind := atelier.TokenSession
	if accessKey != "" {
		kind = atelier.TokenKey
	}
	return &atelier.Token{Hash: atelier.NewSecret(32), Kind: kind, UserID: userID, TenantID: "t",
		ClientID: atelier.CLIClientID, AccessKey: accessKey, CreatedAt: epoch, ExpiresAt: expires}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tok := newToken("u1", "", epoch.Add(time.Hour))
	must(t, s.CreateToken(ctx, tok), "CreateToken")
	got, err := s.GetToken(ctx, tok.Hash)
	must(t, err, "GetToken")
	if !reflect.DeepEqual(got, tok) {
		t.Errorf("GetToken = %+v, want %+v", got, tok)
	}
	wantErr(t, s.CreateToken(ctx, tok), store.ErrConflict, "CreateToken twice")
	must(t, s.DeleteToken(ctx, tok.Hash), "DeleteToken")
	_, err = s.GetToken(ctx, tok.Hash)
	wantErr(t, err, store.ErrNotFound, "GetToken after delete")
	must(t, s.DeleteToken(ctx, tok.Hash), "DeleteToken is idempotent")

	k1a, k1b := newToken("u1", "AK1", epoch.Add(time.Hour)), newToken("u1", "AK1", epoch.Add(time.Hour))
	k2 := newToken("u1", "AK2", epoch.Add(time.Hour))
	session := newToken("u1", "", epoch.Add(time.Hour))
	for _, tk := range []*atelier.Token{k1a, k1b, k2, session} {
		must(t, s.CreateToken(ctx, tk), "CreateToken")
	}
	must(t, s.DeleteTokensByAccessKey(ctx, "AK1"), "DeleteTokensByAccessKey")
	for _, tk := range []*atelier.Token{k1a, k1b} {
		_, err := s.GetToken(ctx, tk.Hash)
		wantErr(t, err, store.ErrNotFound, "GetToken of a revoked key's token")
	}
	for _, tk := range []*atelier.Token{k2, session} {
		_, err := s.GetToken(ctx, tk.Hash)
		must(t, err, "GetToken of a token that was not revoked")
	}
}

func testTokenExpiry(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	expired := []*atelier.Token{newToken("u", "", epoch.Add(-time.Hour)), newToken("u", "", epoch.Add(-time.Microsecond))}
	exactlyNow := newToken("u", "", epoch)
	live := newToken("u", "", epoch.Add(time.Hour))
	for _, tk := range append(expired, exactlyNow, live) {
		must(t, s.CreateToken(ctx, tk), "CreateToken")
	}
	n, err := s.DeleteExpiredTokens(ctx, epoch)
	must(t, err, "DeleteExpiredTokens")
	if n != 2 {
		t.Errorf("DeleteExpiredTokens = %d, want 2", n)
	}
	for _, tk := range expired {
		_, err := s.GetToken(ctx, tk.Hash)
		wantErr(t, err, store.ErrNotFound, "GetToken of an expired token")
	}
	for _, tk := range []*atelier.Token{exactlyNow, live} {
		_, err := s.GetToken(ctx, tk.Hash)
		must(t, err, "GetToken of a token not expired before now")
	}
	n, err = s.DeleteExpiredTokens(ctx, epoch)
	must(t, err, "DeleteExpiredTokens again")
	if n != 0 {
		t.Errorf("second DeleteExpiredTokens = %d, want 0", n)
	}
}

func testAPIKeys(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	mk := func(ak, tenant, user string, at time.Time) *atelier.APIKey {
		k := &atelier.APIKey{AccessKey: ak, TenantID: tenant, UserID: user, Description: "key " + ak,
			SecretHash: "$argon2id$" + ak, CreatedAt: at}
		must(t, s.CreateAPIKey(ctx, k), "CreateAPIKey")
		return k
	}
	newer := mk("AKNEWER", "t1", "u1", epoch.Add(time.Minute))
	older := mk("AKOLDER", "t1", "u1", epoch)
	mk("AKOTHER", "t1", "u2", epoch)
	got, err := s.GetAPIKey(ctx, "AKOLDER")
	must(t, err, "GetAPIKey")
	if *got != *older {
		t.Errorf("GetAPIKey = %+v, want %+v", got, older)
	}
	wantErr(t, s.CreateAPIKey(ctx, older), store.ErrConflict, "CreateAPIKey twice")
	_, err = s.GetAPIKey(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetAPIKey(unknown)")

	list, err := s.ListAPIKeys(ctx, "t1", "u1")
	must(t, err, "ListAPIKeys")
	if len(list) != 2 || list[0].AccessKey != older.AccessKey || list[1].AccessKey != newer.AccessKey {
		t.Errorf("ListAPIKeys = %v, want oldest first [AKOLDER AKNEWER]", list)
	}
	wantErr(t, s.DeleteAPIKey(ctx, "t1", "u2", "AKOLDER"), store.ErrNotFound, "DeleteAPIKey by another user")
	wantErr(t, s.DeleteAPIKey(ctx, "t2", "u1", "AKOLDER"), store.ErrNotFound, "DeleteAPIKey in another tenant")
	must(t, s.DeleteAPIKey(ctx, "t1", "u1", "AKOLDER"), "DeleteAPIKey")
	_, err = s.GetAPIKey(ctx, "AKOLDER")
	wantErr(t, err, store.ErrNotFound, "GetAPIKey after delete")
	wantErr(t, s.DeleteAPIKey(ctx, "t1", "u1", "AKOLDER"), store.ErrNotFound, "DeleteAPIKey twice")
}

func testBuckets(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	names := []string{"b", "a-b", "a", "a0", "ab"}
	byName := map[string]*atelier.Bucket{}
	for _, n := range names {
		byName[n] = MustBucket(t, s, tn.ID, n)
	}
	got, err := s.GetBucket(ctx, tn.ID, "a0")
	must(t, err, "GetBucket")
	if *got != *byName["a0"] {
		t.Errorf("GetBucket = %+v, want %+v", got, byName["a0"])
	}
	dup := &atelier.Bucket{ID: atelier.NewID(), TenantID: tn.ID, Name: "a", CreatedAt: epoch}
	wantErr(t, s.CreateBucket(ctx, dup), store.ErrConflict, "CreateBucket with a taken name")
	list, err := s.ListBuckets(ctx, tn.ID)
	must(t, err, "ListBuckets")
	var gotNames []string
	for _, b := range list {
		gotNames = append(gotNames, b.Name)
	}
	if want := []string{"a", "a-b", "a0", "ab", "b"}; !slices.Equal(gotNames, want) {
		t.Errorf("ListBuckets = %q, want %q", gotNames, want)
	}
	must(t, s.DeleteBucket(ctx, tn.ID, "b"), "DeleteBucket")
	_, err = s.GetBucket(ctx, tn.ID, "b")
	wantErr(t, err, store.ErrNotFound, "GetBucket after delete")
	wantErr(t, s.DeleteBucket(ctx, tn.ID, "b"), store.ErrNotFound, "DeleteBucket twice")
	// The name is free again.
	MustBucket(t, s, tn.ID, "b")
}

func testTenantIsolation(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	b1 := MustBucket(t, s, t1.ID, "data")
	_, err := s.GetBucket(ctx, t2.ID, "data")
	wantErr(t, err, store.ErrNotFound, "GetBucket with another tenant")
	wantErr(t, s.DeleteBucket(ctx, t2.ID, "data"), store.ErrNotFound, "DeleteBucket with another tenant")
	list, err := s.ListBuckets(ctx, t2.ID)
	must(t, err, "ListBuckets")
	if len(list) != 0 {
		t.Errorf("ListBuckets(t2) = %v, want none", list)
	}
	// Bucket names are unique per tenant only.
	b2 := MustBucket(t, s, t2.ID, "data")
	MustPut(t, s, b1.ID, "k")
	objs, err := s.ListObjects(ctx, b2.ID, "", "", 0)
	must(t, err, "ListObjects")
	if len(objs) != 0 {
		t.Errorf("ListObjects of t2's bucket = %v, want none", keysOf(objs))
	}
	_, err = s.GetObject(ctx, b2.ID, "k")
	wantErr(t, err, store.ErrNotFound, "GetObject in the other tenant's bucket")
}

func testObjects(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "photos")
	u := MustBegin(t, s, b.ID, "dir/cat.jpg")
	o := objectFor(u, 1234)
	o.ContentType = "image/jpeg"
	replaced, err := s.CommitUpload(ctx, u.ID, o, epoch)
	must(t, err, "CommitUpload")
	if replaced != "" {
		t.Errorf("CommitUpload of a new key replaced %q", replaced)
	}
	got, err := s.GetObject(ctx, b.ID, "dir/cat.jpg")
	must(t, err, "GetObject")
	want := *o
	want.Bucket = "photos"
	if *got != want {
		t.Errorf("GetObject = %+v, want %+v", got, &want)
	}
	_, err = s.GetObject(ctx, b.ID, "dir/dog.jpg")
	wantErr(t, err, store.ErrNotFound, "GetObject(unknown key)")
	n, err := s.CountObjects(ctx, b.ID)
	must(t, err, "CountObjects")
	if n != 1 {
		t.Errorf("CountObjects = %d, want 1", n)
	}
	_, err = s.CommitUpload(ctx, u.ID, o, epoch)
	wantErr(t, err, store.ErrNotFound, "CommitUpload of a committed upload")
	_, err = s.CommitUpload(ctx, "nope", o, epoch)
	wantErr(t, err, store.ErrNotFound, "CommitUpload(unknown upload)")
	_, err = s.DeleteObject(ctx, b.ID, "dir/dog.jpg", epoch)
	wantErr(t, err, store.ErrNotFound, "DeleteObject(unknown key)")
	list, err := s.ListObjects(ctx, b.ID, "", "", 10)
	must(t, err, "ListObjects")
	if len(list) != 1 || *list[0] != want {
		t.Errorf("ListObjects = %v, want [%+v]", list, &want)
	}
}

// sortedKeys are object keys in byte order. They cover the cases where byte
// order differs from a locale's: punctuation, digits, DEL and non-ASCII.
var sortedKeys = []string{"A", "Z", "a", "a b", "a%", "a-b", "a/b", "a/b/c", "a0", "a_", "b", "\x7f", "é", "éa", "ö", "€", "😀"}

func testListOrder(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	shuffled := slices.Clone(sortedKeys)
	slices.Reverse(shuffled)
	for _, k := range shuffled {
		MustPut(t, s, b.ID, k)
	}
	list, err := s.ListObjects(ctx, b.ID, "", "", 0)
	must(t, err, "ListObjects")
	if got := keysOf(list); !slices.Equal(got, sortedKeys) {
		t.Errorf("ListObjects order =\n%q\nwant byte order\n%q", got, sortedKeys)
	}
}

func testListPagination(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	for _, k := range sortedKeys {
		MustPut(t, s, b.ID, k)
	}
	for _, size := range []int{1, 3, 5, len(sortedKeys)} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(sortedKeys)+1 {
				t.Fatalf("page size %d: pagination does not end", size)
			}
			page, err := s.ListObjects(ctx, b.ID, "", after, size)
			must(t, err, "ListObjects")
			if len(page) > size {
				t.Fatalf("page size %d: got %d objects", size, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, keysOf(page)...)
			after = page[len(page)-1].Key
		}
		if !slices.Equal(got, sortedKeys) {
			t.Errorf("page size %d: pages joined = %q, want %q", size, got, sortedKeys)
		}
	}
	// after need not be a stored key.
	page, err := s.ListObjects(ctx, b.ID, "", "a/b/", 2)
	must(t, err, "ListObjects")
	if got, want := keysOf(page), []string{"a/b/c", "a0"}; !slices.Equal(got, want) {
		t.Errorf("ListObjects(after a/b/) = %q, want %q", got, want)
	}
}

func testListPrefix(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	keys := append(slices.Clone(sortedKeys), "a%b", "a_b", "axb", "100%", "100_", "1000", "\x7f\x7f", "\u07ff", "\U0010ffff", "\U0010ffffz", "\ud7ff", "\ue000")
	for _, k := range keys {
		MustPut(t, s, b.ID, k)
	}
	tests := []struct {
		prefix, after string
		want          []string
	}{
		{"a/", "", []string{"a/b", "a/b/c"}},
		{"a/b", "", []string{"a/b", "a/b/c"}},
		{"a/b", "a/b", []string{"a/b/c"}},
		{"a", "a0", []string{"a_", "a_b", "axb"}},
		{"a", "zzz", nil},
		{"b", "a", []string{"b"}},
		{"a%", "", []string{"a%", "a%b"}}, // % is not a wildcard
		{"a_", "", []string{"a_", "a_b"}}, // _ is not a wildcard
		{"100%", "", []string{"100%"}},
		{"100_", "", []string{"100_"}},
		{"\x7f", "", []string{"\x7f", "\x7f\x7f"}},
		{"é", "", []string{"é", "éa"}},
		{"\u07ff", "", []string{"\u07ff"}},
		{"\ud7ff", "", []string{"\ud7ff"}},
		{"\U0010ffff", "", []string{"\U0010ffff", "\U0010ffffz"}},
		{"nothing", "", nil},
	}
	for _, tt := range tests {
		list, err := s.ListObjects(ctx, b.ID, tt.prefix, tt.after, 0)
		must(t, err, "ListObjects")
		if got := keysOf(list); !slices.Equal(got, tt.want) {
			t.Errorf("ListObjects(prefix %q, after %q) = %q, want %q", tt.prefix, tt.after, got, tt.want)
		}
	}
	list, err := s.ListObjects(ctx, b.ID, "a", "", 2)
	must(t, err, "ListObjects")
	if got, want := keysOf(list), []string{"a", "a b"}; !slices.Equal(got, want) {
		t.Errorf("ListObjects(prefix a, limit 2) = %q, want %q", got, want)
	}
}

func testUploads(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	old := MustBegin(t, s, b.ID, "old")
	fresh := MustBegin(t, s, b.ID, "fresh")
	touched := MustBegin(t, s, b.ID, "touched")
	aborted := MustBegin(t, s, b.ID, "aborted")
	wantErr(t, s.BeginUpload(ctx, old), store.ErrConflict, "BeginUpload twice")
	must(t, s.TouchUpload(ctx, fresh.ID, epoch.Add(2*time.Minute)), "TouchUpload")
	must(t, s.TouchUpload(ctx, touched.ID, epoch.Add(2*time.Minute)), "TouchUpload")
	must(t, s.AbortUpload(ctx, aborted.ID), "AbortUpload")
	must(t, s.AbortUpload(ctx, aborted.ID), "AbortUpload is idempotent")
	wantErr(t, s.TouchUpload(ctx, aborted.ID, epoch), store.ErrNotFound, "TouchUpload of an aborted upload")

	stale, err := s.StaleUploads(ctx, epoch.Add(time.Minute), 10)
	must(t, err, "StaleUploads")
	if len(stale) != 1 || *stale[0] != *old {
		t.Errorf("StaleUploads = %v, want only %+v", stale, old)
	}
	stale, err = s.StaleUploads(ctx, epoch.Add(3*time.Minute), 10)
	must(t, err, "StaleUploads")
	var ids []string
	for _, u := range stale {
		ids = append(ids, u.ID)
	}
	if !sameSet(ids, []string{old.ID, fresh.ID, touched.ID}) {
		t.Errorf("StaleUploads(later) = %v, want old, fresh, touched", ids)
	}
	if len(stale) > 0 && stale[0].ID != old.ID {
		t.Errorf("StaleUploads(later)[0] = %q, want the oldest heartbeat %q", stale[0].ID, old.ID)
	}
	stale, err = s.StaleUploads(ctx, epoch.Add(3*time.Minute), 2)
	must(t, err, "StaleUploads")
	if len(stale) != 2 {
		t.Errorf("StaleUploads(limit 2) = %d uploads", len(stale))
	}
	// A committed upload is no longer pending.
	_, err = s.CommitUpload(ctx, old.ID, objectFor(old, 1), epoch)
	must(t, err, "CommitUpload")
	stale, err = s.StaleUploads(ctx, epoch.Add(time.Minute), 10)
	must(t, err, "StaleUploads")
	if len(stale) != 0 {
		t.Errorf("StaleUploads after commit = %v, want none", stale)
	}
}

func testBlobDeletionQueue(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	for _, k := range []string{"b3", "b1", "b2"} {
		must(t, s.QueueBlobDeletion(ctx, k, epoch), "QueueBlobDeletion")
	}
	must(t, s.QueueBlobDeletion(ctx, "b3", epoch), "QueueBlobDeletion of a queued key")
	got, err := s.PendingBlobDeletions(ctx, 10)
	must(t, err, "PendingBlobDeletions")
	if want := []string{"b3", "b1", "b2"}; !slices.Equal(got, want) {
		t.Errorf("PendingBlobDeletions = %q, want oldest first %q", got, want)
	}
	got, err = s.PendingBlobDeletions(ctx, 2)
	must(t, err, "PendingBlobDeletions")
	if want := []string{"b3", "b1"}; !slices.Equal(got, want) {
		t.Errorf("PendingBlobDeletions(limit 2) = %q, want %q", got, want)
	}
	must(t, s.DoneBlobDeletion(ctx, "b1"), "DoneBlobDeletion")
	must(t, s.DoneBlobDeletion(ctx, "b1"), "DoneBlobDeletion is idempotent")
	got, err = s.PendingBlobDeletions(ctx, 10)
	must(t, err, "PendingBlobDeletions")
	if want := []string{"b3", "b2"}; !slices.Equal(got, want) {
		t.Errorf("PendingBlobDeletions after done = %q, want %q", got, want)
	}
}

func testTimesRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	in := time.Date(2024, 2, 29, 23, 59, 59, 123456789, zone)
	want := in.UTC().Truncate(time.Microsecond)
	tn := &atelier.Tenant{ID: atelier.NewID(), Name: "t", CreatedAt: in}
	must(t, s.CreateTenant(ctx, tn), "CreateTenant")
	got, err := s.GetTenant(ctx, tn.ID)
	must(t, err, "GetTenant")
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v (%v), want %v in UTC", got.CreatedAt, got.CreatedAt.Location(), want)
	}
	// CreateUser and CreateOrg replace the times they are given by what a
	// read gives back, so that an event built from the record matches it.
	nu := &atelier.User{ID: atelier.NewID(), TenantID: tn.ID, Email: "ns@example.com", Name: "ns",
		Role: atelier.RoleMember, Status: atelier.UserActive, PasswordHash: "x", PasswordHistory: []string{},
		PasswordChangedAt: in, LockedUntil: in, CreatedAt: in, UpdatedAt: in}
	must(t, s.CreateUser(ctx, nu), "CreateUser")
	gu, err := s.GetUser(ctx, nu.ID)
	must(t, err, "GetUser")
	wantEqual(t, nu, gu, "CreateUser's user next to a read of it")
	no := &atelier.Organization{ID: atelier.NewID(), TenantID: tn.ID, Name: "ns", CreatedAt: in, UpdatedAt: in}
	must(t, s.CreateOrg(ctx, no), "CreateOrg")
	gotOrg, err := s.GetOrg(ctx, no.ID)
	must(t, err, "GetOrg")
	wantEqual(t, no, gotOrg, "CreateOrg's organization next to a read of it")

	// The zero time survives too: callers test it with IsZero.
	u := MustUser(t, s, tn.ID, "zero")
	_, err = s.UpdateUser(ctx, u.ID, func(u *atelier.User) error {
		u.PasswordChangedAt = time.Time{}
		return nil
	})
	must(t, err, "UpdateUser")
	gu, err = s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	if !gu.PasswordChangedAt.IsZero() {
		t.Errorf("zero PasswordChangedAt came back as %v", gu.PasswordChangedAt)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	u := MustUser(t, s, tn.ID, "ann")
	later := epoch.Add(time.Hour)
	got, err := s.UpdateUser(ctx, u.ID, func(u *atelier.User) error {
		if u.Name != "ann" {
			return fmt.Errorf("fn got user %q", u.Name)
		}
		u.DisplayName, u.Mobile, u.Status, u.UpdatedAt = "Ann", "+1 555", atelier.UserDisabled, later
		return nil
	})
	must(t, err, "UpdateUser")
	if got.DisplayName != "Ann" || got.Status != atelier.UserDisabled || !got.UpdatedAt.Equal(later) {
		t.Errorf("UpdateUser returned %+v", got)
	}
	stored, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	if !reflect.DeepEqual(stored, got) {
		t.Errorf("stored user = %+v, UpdateUser returned %+v", stored, got)
	}
	called := false
	_, err = s.UpdateUser(ctx, "nope", func(*atelier.User) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateUser(unknown)")
	if called {
		t.Error("UpdateUser(unknown) called fn")
	}
}

func testUpdateUserFnError(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	u := MustUser(t, s, tn.ID, "ann")
	errStop := errors.New("stop")
	_, err := s.UpdateUser(ctx, u.ID, func(u *atelier.User) error {
		u.DisplayName = "changed"
		return errStop
	})
	if err != errStop {
		t.Fatalf("UpdateUser returned %v, want fn's error as is", err)
	}
	stored, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	if !reflect.DeepEqual(stored, u) {
		t.Errorf("an aborted update changed the user: %+v, want %+v", stored, u)
	}
	// The store still works after the aborted transaction.
	_, err = s.UpdateUser(ctx, u.ID, func(u *atelier.User) error { u.DisplayName = "ok"; return nil })
	must(t, err, "UpdateUser after an aborted one")
}

func testUpdateUserConflict(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	ann := MustUser(t, s, tn.ID, "ann")
	MustUser(t, s, tn.ID, "bob")
	_, err := s.UpdateUser(ctx, ann.ID, func(u *atelier.User) error { u.Email = "bob@example.com"; return nil })
	wantErr(t, err, store.ErrConflict, "UpdateUser to a taken email")
	stored, err := s.GetUser(ctx, ann.ID)
	must(t, err, "GetUser")
	if stored.Email != ann.Email {
		t.Errorf("email after a failed update = %q, want %q", stored.Email, ann.Email)
	}
}

func testCommitReplaces(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	first := MustPut(t, s, b.ID, "k")
	u := MustBegin(t, s, b.ID, "k")
	second := objectFor(u, 99)
	second.LastModified = epoch.Add(time.Minute)
	replaced, err := s.CommitUpload(ctx, u.ID, second, epoch)
	must(t, err, "CommitUpload over an existing key")
	if replaced != first.BlobKey {
		t.Errorf("CommitUpload replaced %q, want %q", replaced, first.BlobKey)
	}
	got, err := s.GetObject(ctx, b.ID, "k")
	must(t, err, "GetObject")
	if got.BlobKey != second.BlobKey || got.Size != 99 || !got.LastModified.Equal(second.LastModified) {
		t.Errorf("GetObject after replace = %+v, want %+v", got, second)
	}
	pending, err := s.PendingBlobDeletions(ctx, 10)
	must(t, err, "PendingBlobDeletions")
	if !slices.Equal(pending, []string{first.BlobKey}) {
		t.Errorf("PendingBlobDeletions = %q, want the replaced blob %q", pending, first.BlobKey)
	}
	n, err := s.CountObjects(ctx, b.ID)
	must(t, err, "CountObjects")
	if n != 1 {
		t.Errorf("CountObjects = %d, want 1", n)
	}
}

func testDeleteObjectQueuesBlob(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	o := MustPut(t, s, b.ID, "k")
	blobKey, err := s.DeleteObject(ctx, b.ID, "k", epoch)
	must(t, err, "DeleteObject")
	if blobKey != o.BlobKey {
		t.Errorf("DeleteObject = %q, want %q", blobKey, o.BlobKey)
	}
	_, err = s.GetObject(ctx, b.ID, "k")
	wantErr(t, err, store.ErrNotFound, "GetObject after delete")
	_, err = s.DeleteObject(ctx, b.ID, "k", epoch)
	wantErr(t, err, store.ErrNotFound, "DeleteObject twice")
	pending, err := s.PendingBlobDeletions(ctx, 10)
	must(t, err, "PendingBlobDeletions")
	if !slices.Equal(pending, []string{o.BlobKey}) {
		t.Errorf("PendingBlobDeletions = %q, want %q", pending, o.BlobKey)
	}
}

func testDeleteBucketNotEmpty(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	MustPut(t, s, b.ID, "k")
	wantErr(t, s.DeleteBucket(ctx, tn.ID, "b"), store.ErrNotEmpty, "DeleteBucket of a bucket with objects")
	_, err := s.GetBucket(ctx, tn.ID, "b")
	must(t, err, "GetBucket after a refused delete")
	_, err = s.DeleteObject(ctx, b.ID, "k", epoch)
	must(t, err, "DeleteObject")
	// A pending upload does not keep a bucket; its commit then fails.
	u := MustBegin(t, s, b.ID, "late")
	must(t, s.DeleteBucket(ctx, tn.ID, "b"), "DeleteBucket once empty")
	_, err = s.CommitUpload(ctx, u.ID, objectFor(u, 1), epoch)
	wantErr(t, err, store.ErrNotFound, "CommitUpload into a deleted bucket")
}

// parallel runs fn(i) for i in [0, n) on n goroutines released together.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testUpdateUserConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	u := MustUser(t, s, tn.ID, "ann")
	const n = 16
	errs := make([]error, n)
	parallel(n, func(i int) {
		// fn reads and increments a counter: it is safe to run again, and a
		// lost update would show as a smaller count.
		_, errs[i] = s.UpdateUser(ctx, u.ID, func(u *atelier.User) error {
			c, _ := strconv.Atoi(u.Mobile)
			u.Mobile = strconv.Itoa(c + 1)
			return nil
		})
	})
	for _, err := range errs {
		must(t, err, "concurrent UpdateUser")
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	if got.Mobile != strconv.Itoa(n) {
		t.Errorf("counter after %d concurrent updates = %q: updates were lost", n, got.Mobile)
	}
}

func testCommitConcurrentDistinct(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	const n = 16
	ups := make([]*store.Upload, n)
	for i := range ups {
		ups[i] = MustBegin(t, s, b.ID, fmt.Sprintf("k%02d", i))
	}
	errs := make([]error, n)
	parallel(n, func(i int) { _, errs[i] = s.CommitUpload(ctx, ups[i].ID, objectFor(ups[i], int64(i)), epoch) })
	for _, err := range errs {
		must(t, err, "concurrent CommitUpload")
	}
	c, err := s.CountObjects(ctx, b.ID)
	must(t, err, "CountObjects")
	if c != n {
		t.Errorf("CountObjects = %d, want %d", c, n)
	}
}

func testCommitConcurrentSameKey(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	b := MustBucket(t, s, tn.ID, "b")
	const n = 16
	ups := make([]*store.Upload, n)
	for i := range ups {
		ups[i] = MustBegin(t, s, b.ID, "same")
	}
	errs := make([]error, n)
	replaced := make([]string, n)
	parallel(n, func(i int) { replaced[i], errs[i] = s.CommitUpload(ctx, ups[i].ID, objectFor(ups[i], int64(i)), epoch) })
	for _, err := range errs {
		must(t, err, "concurrent CommitUpload of one key")
	}
	got, err := s.GetObject(ctx, b.ID, "same")
	must(t, err, "GetObject")
	// Every commit but the first replaced exactly one earlier blob, and
	// every blob but the winner's was replaced exactly once.
	var all, gone []string
	for i := range ups {
		all = append(all, ups[i].BlobKey)
		if replaced[i] != "" {
			gone = append(gone, replaced[i])
		}
	}
	if !sameSet(append(gone, got.BlobKey), all) {
		t.Errorf("replaced blobs %q plus the final %q are not each blob once", gone, got.BlobKey)
	}
	pending, err := s.PendingBlobDeletions(ctx, 0)
	must(t, err, "PendingBlobDeletions")
	if !sameSet(pending, gone) {
		t.Errorf("PendingBlobDeletions = %q, want the replaced blobs %q", pending, gone)
	}
	c, err := s.CountObjects(ctx, b.ID)
	must(t, err, "CountObjects")
	if c != 1 {
		t.Errorf("CountObjects = %d, want 1", c)
	}
}

func testDeleteBucketRace(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	const rounds = 20
	for r := range rounds {
		name := fmt.Sprintf("race%02d", r)
		b := MustBucket(t, s, tn.ID, name)
		u := MustBegin(t, s, b.ID, "k")
		var delErr, commitErr error
		parallel(2, func(i int) {
			if i == 0 {
				delErr = s.DeleteBucket(ctx, tn.ID, name)
			} else {
				_, commitErr = s.CommitUpload(ctx, u.ID, objectFor(u, 1), epoch)
			}
		})
		_, getErr := s.GetBucket(ctx, tn.ID, name)
		_, objErr := s.GetObject(ctx, b.ID, "k")
		switch {
		case delErr == nil:
			wantErr(t, commitErr, store.ErrNotFound, "CommitUpload after the bucket was deleted")
			wantErr(t, getErr, store.ErrNotFound, "GetBucket after it was deleted")
			wantErr(t, objErr, store.ErrNotFound, "GetObject in a deleted bucket")
		case commitErr == nil:
			wantErr(t, delErr, store.ErrNotEmpty, "DeleteBucket after a commit")
			must(t, getErr, "GetBucket after a refused delete")
			must(t, objErr, "GetObject after the commit")
		default:
			t.Fatalf("round %d: neither won: DeleteBucket: %v; CommitUpload: %v", r, delErr, commitErr)
		}
	}
}

func testCreateTenantRace(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const n = 8
	errs := make([]error, n)
	parallel(n, func(i int) {
		errs[i] = s.CreateTenant(ctx, &atelier.Tenant{ID: atelier.NewID(), Name: "same", CreatedAt: epoch})
	})
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("CreateTenant race: %v, want nil or ErrConflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent CreateTenant of one name succeeded, want 1", won)
	}
}

// Bench runs the shared benchmarks. open must return a fresh, empty store;
// Bench closes it.
//
// SessionTokenCheck is the store's part of authenticating every request:
// GetToken of the bearer token's hash, then GetUser of its user, over 1000
// live sessions of 100 users. It reports checks/s, one goroutine and then
// GOMAXPROCS goroutines at once (SessionTokenCheckParallel).
//
// ActiveVersions lists the 200 queued training versions among 200 finished
// ones, reporting versions/s.
//
// AddSamples imports 100,000 samples (10,000 under -short) into a dataset
// in batches of 1000, reporting samples/s. ListSamplesByLabel/Start and
// /End list a page of 500 samples of one label at the start and at the
// end of as many samples, reporting ms/page: keyset paging is flat.
//
// QueueClaim drains 100,000 queued items (10,000 under -short) 10 per
// claim, reporting claims/s overall and over the first and the last 10%
// of the items: a claim's cost stays flat.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("SessionTokenCheck", func(b *testing.B) {
		s, hashes := sessionFixture(b, open)
		ctx := b.Context()
		i := 0
		for b.Loop() {
			if err := sessionCheck(ctx, s, hashes[i%len(hashes)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "checks/s")
	})
	b.Run("SessionTokenCheckParallel", func(b *testing.B) {
		s, hashes := sessionFixture(b, open)
		ctx := b.Context()
		var checks atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(hashes))
			for pb.Next() {
				if err := sessionCheck(ctx, s, hashes[i%len(hashes)]); err != nil {
					b.Error(err) // not Fatal: this is not the benchmark's goroutine
					return
				}
				i++
				checks.Add(1)
			}
		})
		b.ReportMetric(float64(checks.Load())/b.Elapsed().Seconds(), "checks/s")
	})
	b.Run("CommitObject", func(b *testing.B) {
		s := open(b)
		b.Cleanup(func() { _ = s.Close() })
		ctx := b.Context()
		tn := MustTenant(b, s, "t")
		bk := MustBucket(b, s, tn.ID, "b")
		i := 0
		for b.Loop() {
			u := &store.Upload{ID: atelier.NewID(), BucketID: bk.ID, Key: fmt.Sprintf("obj/%09d", i),
				BlobKey: atelier.NewID(), CreatedAt: epoch, UpdatedAt: epoch}
			if err := s.BeginUpload(ctx, u); err != nil {
				b.Fatal(err)
			}
			if _, err := s.CommitUpload(ctx, u.ID, objectFor(u, 1), epoch); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "objects/s")
	})
	b.Run("ListPage", func(b *testing.B) {
		s := open(b)
		b.Cleanup(func() { _ = s.Close() })
		ctx := b.Context()
		tn := MustTenant(b, s, "t")
		bk := MustBucket(b, s, tn.ID, "b")
		const objects, page = 2000, 100
		for i := range objects {
			MustPut(b, s, bk.ID, fmt.Sprintf("dir%d/obj%05d", i%2, i))
		}
		listed, after := 0, ""
		for b.Loop() {
			objs, err := s.ListObjects(ctx, bk.ID, "dir1/", after, page)
			if err != nil {
				b.Fatal(err)
			}
			listed += len(objs)
			if len(objs) < page {
				after = ""
			} else {
				after = objs[len(objs)-1].Key
			}
		}
		b.ReportMetric(float64(listed)/b.Elapsed().Seconds(), "objects/s")
	})
	b.Run("ActiveVersions", func(b *testing.B) { benchActiveVersions(b, open) })
	b.Run("AddSamples", func(b *testing.B) { benchAddSamples(b, open) })
	b.Run("ListSamplesByLabel", func(b *testing.B) { benchListByLabel(b, open) })
	b.Run("ClaimPastPausedBacklog", func(b *testing.B) { benchClaimBacklog(b, open, false) })
	b.Run("ClaimPastBacklogAtCap", func(b *testing.B) { benchClaimBacklog(b, open, true) })
	b.Run("QueueClaim", func(b *testing.B) { benchQueueClaim(b, open) })
}

// sessionFixture opens a store holding 100 users with 10 live session
// tokens each and returns the tokens' hashes.
func sessionFixture(b *testing.B, open func(b *testing.B) store.Store) (store.Store, []string) {
	s := open(b)
	b.Cleanup(func() { _ = s.Close() })
	tn := MustTenant(b, s, "t")
	var hashes []string
	for u := range 100 {
		user := MustUser(b, s, tn.ID, fmt.Sprintf("user%03d", u))
		for range 10 {
			hashes = append(hashes, MustToken(b, s, user, atelier.CLIClientID).Hash)
		}
	}
	rand.Shuffle(len(hashes), func(i, j int) { hashes[i], hashes[j] = hashes[j], hashes[i] })
	return s, hashes
}

// sessionCheck is what authenticating a request asks of the store.
func sessionCheck(ctx context.Context, s store.Store, hash string) error {
	tk, err := s.GetToken(ctx, hash)
	if err != nil {
		return err
	}
	u, err := s.GetUser(ctx, tk.UserID)
	if err != nil {
		return err
	}
	if u.Status != atelier.UserActive {
		return fmt.Errorf("user %s is %s", u.ID, u.Status)
	}
	return nil
}
