package jwtkeys

import (
	"strconv"
	"testing"
)

func TestVerifiedCacheIsBounded(t *testing.T) {
	c := verifiedCache{max: 4}
	for i := range 10 {
		c.put(verifiedKey("token"+strconv.Itoa(i), TypeAccessToken), verifiedToken{payload: []byte("{}")})
		if n := c.len(); n > 4 {
			t.Fatalf("after %d puts the cache holds %d tokens, bound 4", i+1, n)
		}
	}
	if _, ok := c.get(verifiedKey("token9", TypeAccessToken)); !ok {
		t.Error("the last token put is not cached")
	}
	if _, ok := c.get(verifiedKey("token9", TypeJWT)); ok {
		t.Error("a token verified for one typ hits for another")
	}
}

func TestVerifiedCacheDisabled(t *testing.T) {
	c := verifiedCache{max: -1}
	c.put(verifiedKey("t", ""), verifiedToken{})
	if _, ok := c.get(verifiedKey("t", "")); ok {
		t.Error("a disabled cache returned a token")
	}
}
