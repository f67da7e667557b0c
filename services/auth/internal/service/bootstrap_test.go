package service_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

func TestAdminIsCreatedOnceAndFollowsTheEnvironment(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	h := start(t, env)

	r := h.login("admin", adminPassword)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, "user:orders admin:orders", r.Body["scope"])
	v := h.withBearer(http.MethodGet, "/auth/verify", r.Body["access_token"].(string))
	assert.Equal(t, true, v.Body["is_admin"])

	// A restart changes nothing.
	_, err := h.boot()
	require.NoError(t, err)
	var admins int
	require.NoError(t, dbRow(t, env["DATABASE_URL"], `SELECT count(*) FROM auth.users WHERE is_admin`, &admins))
	assert.Equal(t, 1, admins)

	// A new password in the environment replaces the old one at the next start. The service
	// takes requests before its bootstrap has compared the passwords (a quarter of a second at
	// cost 12); a login at once waits for it, and never gets in with the old password.
	env["ADMIN_PASSWORD"] = "rotated-admin-pw"
	env["BCRYPT_COST"] = "12"
	_, err = h.boot()
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, h.login("admin", adminPassword).Status)
	assert.Equal(t, http.StatusOK, h.login("admin", "rotated-admin-pw").Status)
	env["BCRYPT_COST"] = "4"

	// So does a hash, which wins over a password.
	hash, err := bcrypt.GenerateFromPassword([]byte("hashed-admin-pw"), 4)
	require.NoError(t, err)
	env["ADMIN_PASSWORD_HASH"] = string(hash)
	_, err = h.boot()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, h.login("admin", "hashed-admin-pw").Status)
}

func TestARegisteredUserWithTheAdminNameIsTakenOver(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	env["ADMIN_USERNAME"] = "boss"
	h := start(t, env)
	require.Equal(t, http.StatusOK, h.login("boss", adminPassword).Status)

	env["ADMIN_USERNAME"] = "chief"
	require.Equal(t, http.StatusCreated, h.register("chief", "squatter password").Status)
	_, err := h.boot()
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, h.login("chief", "squatter password").Status)
	r := h.login("chief", adminPassword)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "user:orders admin:orders", r.Body["scope"])
}

func TestBadAdminSettingsStopStartUpNamingTheVariable(t *testing.T) {
	t.Parallel()
	env := baseEnv(t)
	h := start(t, env)
	for variable, value := range map[string]string{
		"ADMIN_PASSWORD_HASH": "not-a-bcrypt-hash",
		"ADMIN_USERNAME":      "no spaces allowed",
		"ADMIN_PASSWORD":      "short",
	} {
		bad := map[string]string{}
		for k, v := range env {
			bad[k] = v
		}
		bad[variable] = value
		h.env = bad
		_, err := h.boot()
		require.Error(t, err, variable)
		assert.Contains(t, err.Error(), variable)
	}
}
