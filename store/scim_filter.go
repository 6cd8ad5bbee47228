package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FilterOp is an operator of a Filter: a logical one (And, Or, Not, the
// constants True and False) or a comparison (RFC 7644 §3.4.2.2's).
type FilterOp string

// Filter operators.
const (
	FilterAnd     FilterOp = "and"
	FilterOr      FilterOp = "or"
	FilterNot     FilterOp = "not"
	FilterTrue    FilterOp = "true"
	FilterFalse   FilterOp = "false"
	FilterEq      FilterOp = "eq"
	FilterNe      FilterOp = "ne"
	FilterCo      FilterOp = "co"
	FilterSw      FilterOp = "sw"
	FilterEw      FilterOp = "ew"
	FilterGt      FilterOp = "gt"
	FilterGe      FilterOp = "ge"
	FilterLt      FilterOp = "lt"
	FilterLe      FilterOp = "le"
	FilterPresent FilterOp = "pr"
	// FilterAny matches when some element of the set Field (UserFieldGroups,
	// GroupFieldMembers) satisfies Sub[0], which names fields of that
	// element only: "members[type eq "Group" and display eq "x"]" needs one
	// member that is both.
	FilterAny FilterOp = "any"
)

// Fields of users that a Filter or a sort can name (besides claims).
const (
	UserFieldID        = "id"         // text (the UUID)
	UserFieldUsername  = "username"   // text
	UserFieldDomain    = "domain"     // text
	UserFieldCreated   = "created"    // time
	UserFieldModified  = "modified"   // time
	UserFieldActive    = "active"     // bool: not disabled
	UserFieldLocked    = "locked"     // bool
	UserFieldGroupID   = "group.id"   // text: matches when any of the user's groups (direct or nested) does
	UserFieldGroupName = "group.name" // text
	UserFieldGroupType = "group.type" // text: "direct" or "indirect" (only through nested groups)

	// UserFieldGroups is the set of a user's groups, for FilterAny; its
	// elements have the fields group.id, group.name and group.type.
	UserFieldGroups = "group"
)

// Fields of groups that a Filter or a sort can name.
const (
	GroupFieldID         = "id"          // text
	GroupFieldName       = "name"        // text
	GroupFieldDomain     = "domain"      // text
	GroupFieldCreated    = "created"     // time
	GroupFieldModified   = "modified"    // time
	GroupFieldMemberID   = "member.id"   // text: matches when any direct member (user or group) does
	GroupFieldMemberName = "member.name" // text: a member user's username or member group's name
	GroupFieldMemberType = "member.type" // text: "User" or "Group"

	// GroupFieldMembers is the set of a group's direct members, for
	// FilterAny; its elements have the fields member.id, member.name and
	// member.type.
	GroupFieldMembers = "member"
)

// MaxFilterNodes bounds the size of a Filter, hence of the SQL it becomes.
const MaxFilterNodes = 200

// Filter is a condition on users or groups, built by package scim from a
// SCIM filter after resolving attribute names. Comparison nodes name a Field
// (one of the UserField*/GroupField* constants) or, for users, a Claim URI.
// Values are compared as parameters, never spliced into SQL.
//
// Value types: text fields and claims take a string (also accepted: bool and
// float64, compared by their text); time fields a time.Time; bool fields a
// bool. Text comparisons ignore case unless CaseExact (case is folded with
// PostgreSQL's lower(), which in a "C" locale database folds ASCII only).
// Ne and Not on a claim or on an element field outside FilterAny (a user's
// groups, a group's members) match when no value matches, absent values
// included; inside FilterAny they apply to the one element.
type Filter struct {
	Op        FilterOp
	Sub       []Filter // And, Or: two or more; Not, Any: one
	Field     string
	Claim     string
	Value     any
	CaseExact bool
}

type fieldKind int

const (
	kindText fieldKind = iota
	kindTime
	kindBool
)

// column is how a field is read in SQL. exists, when set, is a correlated
// sub-query (without its condition) the field lives in: the comparison is
// appended to it as "AND cond", followed by close, and wrapped in EXISTS.
// orgMarker in exists stands for the organization parameter of the list.
//
// set, when set, names the multi-valued field (UserFieldGroups,
// GroupFieldMembers) the field is an element field of; every column of one
// set has the same exists and close, whose rows are the set's elements.
type column struct {
	expr   string
	kind   fieldKind
	key    string // for text: a column holding nameKey(expr), used for case-insensitive eq
	exists string
	close  string
	set    string
}

// orgMarker is replaced, in a column's exists, by the placeholder of the
// listed organization's id.
const orgMarker = "{org}"

// userInGroupsWhere is the exists of the user fields on groups: a user is in
// a group when one of its direct groups is that group or nested in it, so the
// condition selects groups of the organization (g) and the sub-query walks
// down from them, once for the whole list rather than once per user.
const (
	userInGroupsWhere = `SELECT 1 FROM group_members gm WHERE gm.user_id = u.id AND gm.group_id IN (
		WITH RECURSIVE sel(id) AS (SELECT g.id FROM groups g WHERE g.org_id = ` + orgMarker
	userInGroupsClose = `
			UNION
			SELECT gg.member_group_id FROM group_member_groups gg JOIN sel ON gg.group_id = sel.id)
		SELECT sel.id FROM sel)`
	// userGroupType is the type of the user's membership of g: direct, or
	// only through nested groups. (Correlating u makes the walk above run
	// per user, so only filters naming the type pay for it.)
	userGroupType = `CASE WHEN EXISTS (SELECT 1 FROM group_members dm WHERE dm.group_id = g.id AND dm.user_id = u.id) THEN 'direct' ELSE 'indirect' END`
)

// groupMembersWhere is the exists of the group fields on members: the
// direct members of g, users and groups, one row (m) each.
const groupMembersWhere = `SELECT 1 FROM (
		SELECT gm.user_id AS id, mu.username AS name, mu.username_key AS name_key, 'User' AS type
		FROM group_members gm JOIN users mu ON mu.id = gm.user_id WHERE gm.group_id = g.id
		UNION ALL
		SELECT gg.member_group_id, mg.name, mg.name_key, 'Group'
		FROM group_member_groups gg JOIN groups mg ON mg.id = gg.member_group_id WHERE gg.group_id = g.id) m WHERE TRUE`

var userColumnsByField = map[string]column{
	UserFieldID:        {expr: "u.id::text", kind: kindText},
	UserFieldUsername:  {expr: "u.username", kind: kindText, key: "u.username_key"},
	UserFieldDomain:    {expr: "u.user_store_domain", kind: kindText},
	UserFieldCreated:   {expr: "u.created_at", kind: kindTime},
	UserFieldModified:  {expr: "u.updated_at", kind: kindTime},
	UserFieldActive:    {expr: "NOT u.disabled", kind: kindBool},
	UserFieldLocked:    {expr: "u.locked", kind: kindBool},
	UserFieldGroupID:   {expr: "g.id::text", kind: kindText, exists: userInGroupsWhere, close: userInGroupsClose, set: UserFieldGroups},
	UserFieldGroupName: {expr: "g.name", kind: kindText, key: "g.name_key", exists: userInGroupsWhere, close: userInGroupsClose, set: UserFieldGroups},
	UserFieldGroupType: {expr: userGroupType, kind: kindText, exists: userInGroupsWhere, close: userInGroupsClose, set: UserFieldGroups},
}

var groupColumnsByField = map[string]column{
	GroupFieldID:         {expr: "g.id::text", kind: kindText},
	GroupFieldName:       {expr: "g.name", kind: kindText, key: "g.name_key"},
	GroupFieldDomain:     {expr: "g.user_store_domain", kind: kindText},
	GroupFieldCreated:    {expr: "g.created_at", kind: kindTime},
	GroupFieldModified:   {expr: "g.updated_at", kind: kindTime},
	GroupFieldMemberID:   {expr: "m.id::text", kind: kindText, exists: groupMembersWhere, set: GroupFieldMembers},
	GroupFieldMemberName: {expr: "m.name", kind: kindText, key: "m.name_key", exists: groupMembersWhere, set: GroupFieldMembers},
	GroupFieldMemberType: {expr: "m.type", kind: kindText, exists: groupMembersWhere, set: GroupFieldMembers},
}

// sqlArgs collects positional parameters.
type sqlArgs struct{ args []any }

func (a *sqlArgs) add(v any) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}

// compiler turns a Filter into a SQL boolean expression. claims, when set,
// resolves a claim URI to its sub-query (users only).
type compiler struct {
	a       *sqlArgs
	columns map[string]column
	claims  bool
	org     string // placeholder of the organization id, for orgMarker
	nodes   int
	elem    string // inside FilterAny: the set whose element is tested
}

func (c *compiler) compile(f Filter) (string, error) {
	if c.nodes++; c.nodes > MaxFilterNodes {
		return "", fmt.Errorf("filter has more than %d nodes", MaxFilterNodes)
	}
	switch f.Op {
	case FilterTrue:
		return "TRUE", nil
	case FilterFalse:
		return "FALSE", nil
	case FilterNot:
		if len(f.Sub) != 1 {
			return "", errors.New("filter: not takes one operand")
		}
		s, err := c.compile(f.Sub[0])
		if err != nil {
			return "", err
		}
		return "NOT (" + s + ")", nil
	case FilterAnd, FilterOr:
		if len(f.Sub) < 1 {
			return "", fmt.Errorf("filter: %s without operands", f.Op)
		}
		parts := make([]string, len(f.Sub))
		for i, sub := range f.Sub {
			s, err := c.compile(sub)
			if err != nil {
				return "", err
			}
			parts[i] = "(" + s + ")"
		}
		return strings.Join(parts, " "+strings.ToUpper(string(f.Op))+" "), nil
	case FilterAny:
		return c.any(f)
	}
	col, err := c.column(f)
	if err != nil {
		return "", err
	}
	if c.elem != "" {
		if col.set != c.elem {
			return "", fmt.Errorf("filter: %q is not a field of the elements of %q", f.Field, c.elem)
		}
		return c.compare(col, f)
	}
	if col.exists == "" {
		return c.compare(col, f)
	}
	// A set-valued field: ne and "not present" mean no element matches.
	op := f.Op
	if op == FilterNe {
		f.Op = FilterEq
	}
	cond, err := c.compare(col, f)
	if err != nil {
		return "", err
	}
	s := "EXISTS (" + strings.ReplaceAll(col.exists, orgMarker, c.org) + " AND " + cond + col.close + ")"
	if op == FilterNe {
		s = "NOT " + s
	}
	return s, nil
}

// any compiles FilterAny: one EXISTS over the set's elements, holding the
// whole condition, so that every comparison in it tests the same element.
func (c *compiler) any(f Filter) (string, error) {
	if c.elem != "" {
		return "", errors.New("filter: any inside any")
	}
	if len(f.Sub) != 1 || f.Claim != "" {
		return "", errors.New("filter: any takes a set and one operand")
	}
	var set column
	for _, col := range c.columns {
		if col.set != "" && col.set == f.Field {
			set = col
			break
		}
	}
	if set.set == "" {
		return "", fmt.Errorf("filter: unknown set %q", f.Field)
	}
	c.elem = f.Field
	cond, err := c.compile(f.Sub[0])
	c.elem = ""
	if err != nil {
		return "", err
	}
	return "EXISTS (" + strings.ReplaceAll(set.exists, orgMarker, c.org) + " AND (" + cond + ")" + set.close + ")", nil
}

func (c *compiler) column(f Filter) (column, error) {
	switch {
	case f.Claim != "" && f.Field != "":
		return column{}, errors.New("filter: both a field and a claim")
	case f.Claim != "":
		if !c.claims {
			return column{}, errors.New("filter: claims are not filterable here")
		}
		if !utf8.ValidString(f.Claim) {
			return column{}, errors.New("filter: invalid claim URI")
		}
		return column{expr: "c.value", kind: kindText,
			exists: "SELECT 1 FROM user_claims c WHERE c.user_id = u.id AND c.claim_uri = " + c.a.add(f.Claim)}, nil
	}
	col, ok := c.columns[f.Field]
	if !ok {
		return column{}, fmt.Errorf("filter: unknown field %q", f.Field)
	}
	return col, nil
}

// compare is the condition on one value of col.
func (c *compiler) compare(col column, f Filter) (string, error) {
	if f.Op == FilterPresent {
		switch col.kind {
		case kindText:
			return col.expr + " <> ''", nil
		default:
			return col.expr + " IS NOT NULL", nil
		}
	}
	sqlOp, ok := map[FilterOp]string{FilterEq: "=", FilterNe: "<>", FilterGt: ">", FilterGe: ">=", FilterLt: "<", FilterLe: "<="}[f.Op]
	switch col.kind {
	case kindTime:
		t, isTime := f.Value.(time.Time)
		if !isTime || !ok {
			return "", fmt.Errorf("filter: %s on a time field needs a time and eq, ne, gt, ge, lt or le", f.Op)
		}
		return col.expr + " " + sqlOp + " " + c.a.add(t), nil
	case kindBool:
		b, isBool := f.Value.(bool)
		if !isBool || (f.Op != FilterEq && f.Op != FilterNe) {
			return "", fmt.Errorf("filter: %s on a boolean field needs a boolean and eq or ne", f.Op)
		}
		return "(" + col.expr + ") " + sqlOp + " " + c.a.add(b), nil
	}
	var v string
	switch x := f.Value.(type) {
	case string:
		v = x
	case bool:
		v = strconv.FormatBool(x)
	case float64:
		v = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return "", fmt.Errorf("filter: %s on a text field needs a string, number or boolean", f.Op)
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		// PostgreSQL rejects such parameters; no stored text can match.
		return "FALSE", nil
	}
	if (f.Op == FilterEq || f.Op == FilterNe) && !f.CaseExact && col.key != "" {
		return col.key + " " + sqlOp + " " + c.a.add(nameKey(v)), nil
	}
	expr, p := col.expr, c.a.add(v)
	if !f.CaseExact {
		expr, p = "lower("+expr+")", "lower("+p+")"
	}
	switch f.Op {
	case FilterCo:
		return "strpos(" + expr + ", " + p + ") > 0", nil
	case FilterSw:
		return "starts_with(" + expr + ", " + p + ")", nil
	case FilterEw:
		return "right(" + expr + ", char_length(" + p + ")) = " + p, nil
	}
	if !ok {
		return "", fmt.Errorf("filter: unknown operator %q", f.Op)
	}
	if f.Op != FilterEq && f.Op != FilterNe {
		// Order by code point, whatever the database's collation.
		return expr + " COLLATE \"C\" " + sqlOp + " " + p, nil
	}
	return expr + " " + sqlOp + " " + p, nil
}

// orderExpr is the ORDER BY expression of a sort field or claim.
func (c *compiler) orderExpr(field, claim string) (string, error) {
	if claim != "" {
		if !c.claims {
			return "", errors.New("sort: claims are not sortable here")
		}
		return "(SELECT lower(c.value) FROM user_claims c WHERE c.user_id = u.id AND c.claim_uri = " + c.a.add(claim) + ") COLLATE \"C\"", nil
	}
	col, ok := c.columns[field]
	if !ok || col.exists != "" {
		return "", fmt.Errorf("sort: field %q is not sortable", field)
	}
	if col.key != "" {
		// Names sort ignoring case, like they compare.
		return col.key + " COLLATE \"C\"", nil
	}
	if col.kind == kindText {
		return col.expr + " COLLATE \"C\"", nil
	}
	return col.expr, nil
}

// ListQuery selects a page of users or groups of an organization.
type ListQuery struct {
	OrgID  string
	Filter *Filter // nil: all
	// SortField or SortClaim (users only) orders the results; neither means
	// creation order. Names and claims sort ignoring case, by code point.
	// Ties are broken by id, so pages are stable.
	SortField  string
	SortClaim  string
	Descending bool
	Offset     int // rows to skip
	Limit      int // rows to return at most; 0 returns only the total
}

// listSQL builds the count and page statements for table (aliased alias).
func listSQL(q ListQuery, table, alias, cols string, columns map[string]column, claims bool) (countSQL, pageSQL string, countArgs, pageArgs []any, err error) {
	if q.Offset < 0 || q.Limit < 0 {
		return "", "", nil, nil, errors.New("negative offset or limit")
	}
	a := &sqlArgs{}
	c := &compiler{a: a, columns: columns, claims: claims}
	c.org = a.add(q.OrgID)
	where := alias + ".org_id = " + c.org
	if q.Filter != nil {
		cond, err := c.compile(*q.Filter)
		if err != nil {
			return "", "", nil, nil, err
		}
		where += " AND (" + cond + ")"
	}
	countSQL = "SELECT count(*) FROM " + table + " " + alias + " WHERE " + where
	nCount := len(a.args)
	order := alias + ".created_at"
	if q.SortField != "" || q.SortClaim != "" {
		if order, err = c.orderExpr(q.SortField, q.SortClaim); err != nil {
			return "", "", nil, nil, err
		}
	}
	dir := " ASC NULLS LAST"
	if q.Descending {
		dir = " DESC NULLS LAST"
	}
	pageSQL = "SELECT " + cols + " FROM " + table + " " + alias + " WHERE " + where +
		" ORDER BY " + order + dir + ", " + alias + ".id" +
		" OFFSET " + strconv.Itoa(q.Offset) + " LIMIT " + strconv.Itoa(q.Limit)
	return countSQL, pageSQL, a.args[:nCount:nCount], a.args, nil
}
