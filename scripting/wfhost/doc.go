// Package wfhost binds the script engine (package scripting) to a Temporal workflow. It is the
// only part of scripting that imports go.temporal.io/sdk/workflow.
//
// Where it sits: the login workflow (package flows) calls Config(ctx, opts) to get a
// scripting.Config whose clock is workflow.Now, whose Math.random seed comes from one
// workflow.SideEffect, whose logger is the workflow's replay-aware logger, whose CPU budget is
// relaxed while replaying, and whose Directory runs every user look-up and claim write as a local
// activity. The activities themselves are the methods of Activities, registered on the worker
// under the exported names below and backed by a scripting.Directory implementation (the user
// store in production, connectors/fake in tests).
//
// Data flow for a script call such as hasRole(user, 'admin'):
//
//	JS ─► scripting host function ─► wfhost directory ─► workflow.ExecuteLocalActivity(ActivityUserRoles)
//	                                                         └─► Activities.UserRoles ─► store
//
// The activity result is recorded in history, so replays see the same answer without calling
// the store again.
package wfhost
