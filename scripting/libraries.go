package scripting

import (
	"errors"
	"fmt"

	"github.com/dop251/goja"
)

// Host function names of the library functions.
const (
	FnRequire          = "require"
	FnLoadLocalLibrary = "loadLocalLibrary"
)

// DefaultMaxLibrarySize bounds one script library's source when Config.MaxLibrarySize is 0.
const DefaultMaxLibrarySize = 256 << 10

// library is one fetched library: its source, or why it could not be fetched. Fetches are
// cached for the transaction, so each library costs one activity per login.
type library struct {
	src string
	err error
}

// librarySource fetches a tenant library once per transaction.
func (s *Session) librarySource(name string) (string, error) {
	if lib, ok := s.tx.libraries[name]; ok {
		return lib.src, lib.err
	}
	lib := &library{}
	switch {
	case s.cfg.Libraries == nil:
		lib.err = errors.New("no script library store configured")
	default:
		s.blocking(func() { lib.src, lib.err = s.cfg.Libraries.Library(s.cfg.Context, s.setup.TenantDomain, name) })
		if lib.err == nil && len(lib.src) > s.cfg.MaxLibrarySize {
			lib.src, lib.err = "", fmt.Errorf("library is %d bytes, the limit is %d", len(lib.src), s.cfg.MaxLibrarySize)
		}
	}
	s.tx.libraries[name] = lib
	return lib.src, lib.err
}

// loadLocalLibrary(name) returns the source of the tenant's library name, or null with an error
// log (WSO2's behaviour).
func (s *Session) loadLocalLibrary(call goja.FunctionCall) goja.Value {
	name := call.Argument(0).String()
	src, err := s.librarySource(name)
	if err != nil {
		s.log.Error("loadLocalLibrary: library not loaded", "library", name, "error", err)
		return goja.Null()
	}
	return s.vm.ToValue(src)
}

// require(name) evaluates the tenant's library name as a CommonJS module in the script's own
// runtime and returns its module.exports. The library sees module, exports and require (so
// libraries may require each other) and runs in sloppy mode like the script. Each library is
// evaluated once per transaction; later calls return the same exports object (a cycle sees the
// exports as they are at that point, as in Node.js). A missing or broken library throws.
func (s *Session) require(call goja.FunctionCall) goja.Value {
	name := call.Argument(0).String()
	if mod, ok := s.tx.modules[name]; ok {
		return mod.Get("exports")
	}
	src, err := s.librarySource(name)
	if err != nil {
		s.log.Error("require: library not loaded", "library", name, "error", err)
		s.throw("require: cannot load library %s", name)
	}
	prg, err := goja.Compile(name, "(function (module, exports, require) {"+src+"\n})", false)
	if err != nil {
		s.throw("require: library %s does not compile: %v", name, err)
	}
	fnVal, err := s.vm.RunProgram(prg)
	if err != nil {
		s.rethrow(err)
	}
	fn, ok := goja.AssertFunction(fnVal)
	if !ok {
		s.throw("require: library %s is not a module", name)
	}
	module := s.vm.NewObject()
	exports := s.vm.NewObject()
	_ = module.Set("exports", exports)
	s.tx.modules[name] = module
	if _, err := fn(goja.Undefined(), module, exports, s.vm.Get(FnRequire)); err != nil {
		delete(s.tx.modules, name)
		s.rethrow(err)
	}
	return module.Get("exports")
}

// rethrow propagates an error from script code called by a host function: uncatchable ones keep
// unwinding, JS exceptions are re-thrown as they were, anything else becomes a TypeError.
func (s *Session) rethrow(err error) {
	rethrowUncatchable(err)
	var ex *goja.Exception
	if errors.As(err, &ex) {
		panic(ex)
	}
	s.throw("%v", err)
}
