package branding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/keyflow/keyflow/ui"
)

// preference is the part of a branding preference Keyflow reads: its own flat members
// (ui.Branding's JSON names) and WSO2 Console's (configs, organizationDetails, theme).
type preference struct {
	ui.Branding
	Configs *struct {
		IsBrandingEnabled *bool `json:"isBrandingEnabled"`
	} `json:"configs"`
	OrganizationDetails struct {
		DisplayName string `json:"displayName"`
	} `json:"organizationDetails"`
	Theme map[string]json.RawMessage `json:"theme"`
}

// theme is one of WSO2's themes (theme.LIGHT, theme.DARK).
type theme struct {
	Images struct {
		Logo struct {
			ImgURL string `json:"imgURL"`
		} `json:"logo"`
	} `json:"images"`
	Colors struct {
		// Primary is {"main": "#rrggbb"} in current WSO2, a plain string in 6.0.
		Primary    json.RawMessage `json:"primary"`
		Background struct {
			Body struct {
				Main string `json:"main"`
			} `json:"body"`
		} `json:"background"`
	} `json:"colors"`
	Page struct {
		Background struct {
			BackgroundColor string `json:"backgroundColor"`
		} `json:"background"`
	} `json:"page"`
}

// FromPreference reads a page's branding from a preference JSON object and whether branding is
// enabled (WSO2's configs.isBrandingEnabled, default true). Keyflow's flat members win over the
// active theme's (theme.activeTheme, default LIGHT) and organizationDetails.displayName.
func FromPreference(raw json.RawMessage) (ui.Branding, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return ui.Branding{}, false, errors.New("the preference must be a JSON object")
	}
	var p preference
	if err := json.Unmarshal(raw, &p); err != nil {
		return ui.Branding{}, false, fmt.Errorf("the preference is not of the documented shape: %w", err)
	}
	b := p.Branding
	if b.Name == "" {
		b.Name = p.OrganizationDetails.DisplayName
	}
	if len(p.Theme) > 0 {
		active := "LIGHT"
		if a, ok := p.Theme["activeTheme"]; ok {
			if err := json.Unmarshal(a, &active); err != nil {
				return ui.Branding{}, false, errors.New("theme.activeTheme must be a string")
			}
		}
		if rawTheme, ok := p.Theme[active]; ok {
			var t theme
			if err := json.Unmarshal(rawTheme, &t); err != nil {
				return ui.Branding{}, false, fmt.Errorf("theme.%s is not of the documented shape: %w", active, err)
			}
			if b.LogoURL == "" {
				b.LogoURL = t.Images.Logo.ImgURL
			}
			if b.PrimaryColor == "" {
				b.PrimaryColor = primaryColor(t.Colors.Primary)
			}
			if b.BackgroundColor == "" {
				b.BackgroundColor = t.Colors.Background.Body.Main
			}
			if b.BackgroundColor == "" {
				b.BackgroundColor = t.Page.Background.BackgroundColor
			}
		}
	}
	enabled := p.Configs == nil || p.Configs.IsBrandingEnabled == nil || *p.Configs.IsBrandingEnabled
	return b, enabled, nil
}

func primaryColor(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var m struct {
		Main string `json:"main"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.Main
}

// Validate reports why a preference cannot be used: not a JSON object, or values
// ui.Branding.Validate rejects (colours that are not #rrggbb, URLs that are not http(s) or
// root-relative, a name too long).
func Validate(raw json.RawMessage) error {
	b, _, err := FromPreference(raw)
	if err != nil {
		return err
	}
	return b.Validate()
}
