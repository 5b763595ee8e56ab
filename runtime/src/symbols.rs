//! Interned symbols.
//!
//! Invariant: two symbols with the same text are the same heap object, and every
//! symbol object records its own [`SymbolId`], so converting in either direction
//! is O(1) after the first intern. Symbol objects are permanent.

use std::collections::HashMap;

use crate::value::Value;

/// Index of an interned symbol.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
pub struct SymbolId(pub u32);

/// The table of interned symbols.
#[derive(Default)]
pub struct SymbolTable {
    by_text: HashMap<String, SymbolId>,
    texts: Vec<String>,
    objects: Vec<Value>,
}

impl SymbolTable {
    /// The id of `text`, if interned.
    pub fn lookup(&self, text: &str) -> Option<SymbolId> {
        self.by_text.get(text).copied()
    }

    /// Records a new symbol; `object` is its heap object.
    pub fn insert(&mut self, text: &str, object: Value) -> SymbolId {
        let id = SymbolId(self.texts.len() as u32);
        self.by_text.insert(text.to_owned(), id);
        self.texts.push(text.to_owned());
        self.objects.push(object);
        id
    }

    /// Id the next inserted symbol will get.
    pub fn next_id(&self) -> SymbolId {
        SymbolId(self.texts.len() as u32)
    }

    /// The text of a symbol.
    pub fn text(&self, id: SymbolId) -> &str {
        &self.texts[id.0 as usize]
    }

    /// The heap object of a symbol.
    pub fn object(&self, id: SymbolId) -> Value {
        self.objects[id.0 as usize]
    }

    /// Number of interned symbols.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether no symbol is interned yet.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}
