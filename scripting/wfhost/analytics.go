package wfhost

import (
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyflow/keyflow/scripting"
)

// Defaults of callElastic's parameters (WSO2's CallElasticFunctionImpl).
const (
	elasticDefaultIndex     = "transaction"
	elasticDefaultDuration  = "5m"
	elasticDefaultRiskLogic = "state.transactions.add(doc['amount'].value)"
	elasticDefaultThreshold = 10000.0
)

// complete turns a callAnalytics, callElastic or callChoreo request into the HTTP request to make,
// from the caller's configuration. httpGet/httpPost requests pass unchanged.
func (c *HTTPCaller) complete(req scripting.HTTPRequest) (scripting.HTTPRequest, error) {
	switch req.Function {
	case "":
		return req, nil
	case scripting.FnCallAnalytics:
		if c.AnalyticsReceiver == "" {
			return req, errors.New("no analytics receiver configured")
		}
		req.URL = joinURL(c.AnalyticsReceiver, req.URL)
	case scripting.FnCallElastic:
		if c.ElasticReceiver == "" {
			return req, errors.New("no Elasticsearch receiver configured")
		}
		index := req.Params["index"]
		if index == "" {
			index = elasticDefaultIndex
		}
		req.URL = joinURL(c.ElasticReceiver, url.PathEscape(index)+"/_search")
		body, err := elasticQuery(req.Params)
		if err != nil {
			return req, err
		}
		req.Body = body
	case scripting.FnCallChoreo:
		if req.Auth == nil {
			return req, errors.New("callChoreo without credentials")
		}
		a := *req.Auth
		a.Properties = make(map[string]string, len(req.Auth.Properties))
		for k, v := range req.Auth.Properties {
			a.Properties[k] = v
		}
		if a.Properties["tokenEndpoint"] == "" {
			a.Properties["tokenEndpoint"] = c.ChoreoTokenEndpoint
		}
		if a.Properties["tokenEndpoint"] == "" {
			return req, errors.New("no Choreo token endpoint configured")
		}
		req.Auth = &a
	default:
		return req, errors.New("unknown script call function")
	}
	return req, nil
}

func joinURL(base, path string) string {
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
}

// elasticQuery is WSO2's fixed risk aggregation: the user's documents of the last duration,
// summed by a scripted metric whose map script is riskLogic.
func elasticQuery(p map[string]string) (json.RawMessage, error) {
	duration := p["duration"]
	if duration == "" {
		duration = elasticDefaultDuration
	}
	logic := p["riskLogic"]
	if logic == "" {
		logic = elasticDefaultRiskLogic
	}
	q := map[string]any{
		"size": 0,
		"query": map[string]any{"bool": map[string]any{
			"must":   []any{map[string]any{"match": map[string]any{"username": p["username"]}}},
			"filter": map[string]any{"range": map[string]any{"@timestamp": map[string]any{"gte": "now-" + duration, "lte": "now"}}},
		}},
		"aggs": map[string]any{"risk_score": map[string]any{"scripted_metric": map[string]any{
			"init_script":    "state.transactions = []",
			"map_script":     logic,
			"combine_script": "double total = 0; for (t in state.transactions) { total += t } return total",
			"reduce_script":  "double total = 0; for (a in states) { total += a } return total",
		}}},
	}
	raw, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// elasticOutcome reads aggregations.risk_score.value: onSuccess with {risk_score: 1} when it
// exceeds the threshold, else {risk_score: 0}; onFail when the answer has no score.
func elasticOutcome(raw []byte, threshold string) scripting.CallResult {
	var resp struct {
		Aggregations struct {
			RiskScore struct {
				Value *float64 `json:"value"`
			} `json:"risk_score"`
		} `json:"aggregations"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil || resp.Aggregations.RiskScore.Value == nil {
		return scripting.CallResult{Outcome: scripting.OutcomeFail}
	}
	limit := elasticDefaultThreshold
	if t, err := strconv.ParseFloat(threshold, 64); err == nil {
		limit = t
	}
	score := 0
	if *resp.Aggregations.RiskScore.Value > limit {
		score = 1
	}
	return scripting.CallResult{Outcome: scripting.OutcomeSuccess, Data: json.RawMessage(`{"risk_score":` + strconv.Itoa(score) + `}`)}
}
