//! Closures, non-local returns, outer variables, super sends and enforced
//! nodes (the tier's side of `runtime/src/nodes/block.rs` and the node
//! families not compiled yet): the interpreter evaluates them in the
//! activation's frame, with the activation's variables written back before
//! and read again after (`Lowerer::interpret`). Their results, unwinds and
//! errors rejoin the compiled code like those of any call.

use cranelift_codegen::ir;

use som_runtime::nodes::Node;

use super::unit::Lowerer;

impl Lowerer<'_> {
    pub(crate) fn lower_in_interpreter(&mut self, node: &'static Node) -> ir::Value {
        self.interpret(node)
    }
}
