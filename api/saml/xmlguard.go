package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// MaxMessageBytes caps a decoded SAML protocol message (an AuthnRequest is a few KiB).
const MaxMessageBytes = 128 << 10

// errDTD reports a document type declaration, which SAML forbids (saml-core §1.3: "SAML
// messages MUST NOT contain a DTD") and which is how XXE and entity-expansion attacks start.
var errDTD = errors.New("DTD or other XML directive not allowed")

// checkXML refuses what a SAML message must not contain before any SAML parsing: DTDs and
// other directives, processing instructions besides the XML declaration, and documents over
// MaxMessageBytes (metadata has its own, larger cap and is checked by its caller).
func checkXML(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty XML document")
	}
	// encoding/xml never expands external entities, but the document is passed on to other
	// parsers (etree, xmlsec-based SPs in logs): refuse it outright.
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errDTD
		case xml.ProcInst:
			if t.Target != "xml" {
				return fmt.Errorf("processing instruction %q not allowed", t.Target)
			}
		}
	}
}
