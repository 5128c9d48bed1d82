package obs

import (
	"errors"

	"github.com/atelier-dev/atelier"
)

// MaxKeyBytes is the longest object key, in bytes.
const MaxKeyBytes = atelier.MaxObjectKeyBytes

// ValidateBucketName checks a bucket name by the S3 rules; it is
// atelier.ValidateBucketName, which object paths (atelier.ParseObjectPath)
// apply too, so that the two cannot drift. It returns CodeInvalidBucketName
// for field "bucket".
func ValidateBucketName(name string) error { return atelier.ValidateBucketName(name) }

// ValidateKey checks an object key: 1–1024 bytes of valid UTF-8, no NUL and
// no ".." segment (segments are split on "/"); it is
// atelier.ValidateObjectKey. It returns CodeInvalidObjectKey for field "key".
func ValidateKey(key string) error { return atelier.ValidateObjectKey(key) }

// validateKey is ValidateKey for the request field named field.
func validateKey(key, field string) error {
	err := atelier.ValidateObjectKey(key)
	if ae := (*atelier.Error)(nil); errors.As(err, &ae) {
		return ae.WithField(field)
	}
	return err
}
