package auth

import (
	"crypto/pbkdf2"
	"hash"
)

func pbkdf2Key(h func() hash.Hash, password string, salt []byte, iter int) ([]byte, error) {
	return pbkdf2.Key(h, password, salt, iter, h().Size())
}
