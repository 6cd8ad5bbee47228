package codec

import (
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

const (
	// MetadataEncodingEncrypted is the value of the payload metadata key
	// "encoding" (converter.MetadataEncoding) on every payload this codec
	// produces.
	MetadataEncodingEncrypted = "binary/encrypted"

	// MetadataKeyID is the payload metadata key holding the id of the key a
	// payload was encrypted with.
	MetadataKeyID = "encryption-key-id"

	// MetadataCipher is the payload metadata key naming the cipher, so a
	// future format change can be told apart from tampering.
	MetadataCipher = "encryption-cipher"

	// CipherAES256GCM is the only MetadataCipher value this codec writes and
	// accepts.
	CipherAES256GCM = "AES-256-GCM"
)

var (
	// ErrUnknownKeyID is returned (wrapped) by Decode for a payload whose key
	// id is not in the Keyring: the key was removed too early, or the payload
	// comes from another deployment.
	ErrUnknownKeyID = errors.New("codec: payload encrypted with an unknown key id")

	// ErrNotEncrypted is returned (wrapped) by Decode for a payload that does
	// not carry MetadataEncodingEncrypted.
	ErrNotEncrypted = errors.New("codec: payload is not encrypted")

	// ErrAuthentication is returned (wrapped) by Decode when a payload fails
	// GCM authentication: it was altered, or its key id names a different key
	// than the one that encrypted it.
	ErrAuthentication = errors.New("codec: payload failed authentication (tampered or wrong key)")
)

// aadPrefix is authenticated with every payload. Binding the format version
// and key id means a payload cannot be replayed under another key id or
// format without failing authentication.
const aadPrefix = "keyflow/codec/v1/" + CipherAES256GCM + "/"

// Codec is a converter.PayloadCodec that encrypts every payload with the
// Keyring's active key (AES-256-GCM) and decrypts with whichever key the
// payload names.
//
// Encode wraps the whole original payload — its data and its metadata, so the
// inner encoding ("json/plain", "binary/protobuf", ...) is hidden too — into a
// new payload with metadata encoding=binary/encrypted and the key id.
//
// Decode is strict: a payload that is not encrypted is rejected instead of
// passed through. Every Keyflow client and worker encrypts, so a plaintext
// payload means someone wrote to the namespace without the key (for example
// a signal sent from the CLI); accepting it would let anyone with namespace
// access inject unauthenticated input into login flows.
type Codec struct {
	keys *Keyring
}

var _ converter.PayloadCodec = (*Codec)(nil)

// NewCodec returns a Codec over k. A nil k yields a Codec whose every call
// fails, so a wiring mistake can never send a payload in clear.
func NewCodec(k *Keyring) *Codec { return &Codec{keys: k} }

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.keys == nil {
		return nil, errors.New("codec: no keyring configured; refusing to encode")
	}
	id := c.keys.activeID
	aead := c.keys.aeads[id]
	aad := []byte(aadPrefix + id)
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: marshal payload %d: %w", i, err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncodingEncrypted),
				MetadataKeyID:              []byte(id),
				MetadataCipher:             []byte(CipherAES256GCM),
			},
			// With a random-nonce AEAD the nonce is generated inside Seal and
			// prepended to the output.
			Data: aead.Seal(nil, nil, plain, aad),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.keys == nil {
		return nil, errors.New("codec: no keyring configured; refusing to decode")
	}
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		md := p.GetMetadata()
		if enc := string(md[converter.MetadataEncoding]); enc != MetadataEncodingEncrypted {
			return nil, fmt.Errorf("%w: payload %d has encoding %q", ErrNotEncrypted, i, enc)
		}
		if ciph, ok := md[MetadataCipher]; ok && string(ciph) != CipherAES256GCM {
			return nil, fmt.Errorf("codec: payload %d uses cipher %q, only %s is supported", i, ciph, CipherAES256GCM)
		}
		id := string(md[MetadataKeyID])
		aead, ok := c.keys.aeads[id]
		if !ok {
			return nil, fmt.Errorf("%w: payload %d names key id %q, known ids are [%s]",
				ErrUnknownKeyID, i, id, strings.Join(c.keys.ids, ", "))
		}
		plain, err := aead.Open(nil, nil, p.GetData(), []byte(aadPrefix+id))
		if err != nil {
			// The cipher's own error says nothing more than "message
			// authentication failed"; our sentinel is the useful part.
			return nil, fmt.Errorf("%w: payload %d, key id %q", ErrAuthentication, i, id)
		}
		inner := &commonpb.Payload{}
		if err := proto.Unmarshal(plain, inner); err != nil {
			return nil, fmt.Errorf("codec: payload %d decrypted but is not a payload: %w", i, err)
		}
		out[i] = inner
	}
	return out, nil
}

// DataConverter returns the SDK's default data converter wrapped with a Codec
// over k: values are serialized as usual (JSON, protobuf, ...) and then every
// resulting payload is encrypted. Every Temporal client and worker of a
// deployment must use it with the same keys.
func DataConverter(k *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), NewCodec(k))
}

// FailureConverter returns a failure converter that moves error messages and
// stack traces out of the failure's clear-text fields into an encoded
// attributes payload, which DataConverter(k) then encrypts. Without it an
// error message such as `invalid code "123456"` would sit in history in
// clear. The price: tools without the key show "Encoded failure".
func FailureConverter(k *Keyring) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          DataConverter(k),
		EncodeCommonAttributes: true,
	})
}
