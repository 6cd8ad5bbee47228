package manage

import (
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/keyflow/keyflow/store"
)

// ScopeAuditView guards GET /audit-events (Keyflow's own scope; WSO2 has no such API).
const ScopeAuditView = "internal_audit_view"

// auditEvent is one event of GET /audit-events.
type auditEvent struct {
	ID     int64  `json:"id"`
	At     string `json:"at"`
	Action string `json:"action"`
	Actor  struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"actor"`
	Target struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"target"`
	Before        json.RawMessage `json:"before"`
	After         json.RawMessage `json:"after"`
	CorrelationID string          `json:"correlationId,omitempty"`
}

// listAudit answers GET /audit-events: {totalResults, startIndex, count, links, events}, newest
// first.
func (h *Handler) listAudit(c *gin.Context) {
	limit, offset, ok := page(h.audit, c)
	if !ok {
		return
	}
	q := store.AuditQuery{OrgID: orgID(c), Action: c.Query("action"), TargetType: c.Query("targetType"),
		TargetID: c.Query("targetId"), Offset: offset, Limit: limit}
	for _, s := range []string{q.Action, q.TargetType, q.TargetID} {
		if !utf8.ValidString(s) || len(s) > 255 {
			fail(h.audit, c, h.audit.invalid.With("action, targetType and targetId must be at most 255 bytes of UTF-8."), nil)
			return
		}
	}
	if s := c.Query("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			fail(h.audit, c, h.audit.invalid.With("since must be an RFC 3339 date-time, e.g. 2026-01-02T15:04:05Z."), nil)
			return
		}
		q.Since = t
	}
	list, total, err := h.cfg.Store.AuditEvents(c.Request.Context(), q)
	if err != nil {
		fail(h.audit, c, h.audit.server, err)
		return
	}
	out := make([]auditEvent, len(list))
	for i, e := range list {
		v := auditEvent{ID: e.ID, At: e.At.Format(time.RFC3339Nano), Action: e.Action, Before: e.Before,
			After: e.After, CorrelationID: e.CorrelationID}
		v.Actor.Type, v.Actor.ID = e.Actor.Type, e.Actor.ID
		v.Target.Type, v.Target.ID = e.TargetType, e.TargetID
		if v.Before == nil {
			v.Before = json.RawMessage("null")
		}
		if v.After == nil {
			v.After = json.RawMessage("null")
		}
		out[i] = v
	}
	c.JSON(http.StatusOK, gin.H{"totalResults": total, "startIndex": offset + 1, "count": len(out),
		"links": h.pageLinks(c, "/audit-events", limit, offset, len(out), total), "events": out})
}
