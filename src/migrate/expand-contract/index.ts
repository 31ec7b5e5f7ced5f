/**
 * Expand/contract with dual-write (R-MIG-6): migration builders that rename
 * or reshape a column while old and new application code run at once. See
 * docs/expand-contract.md.
 */
export { expandColumn, type ContractOptions, type ExpandContract, type ExpandContractStatements, type MigrationTuning } from './expand-column.js';
export type { ColumnConversion, ColumnShape, ExpandColumnSpec } from './column-change.js';
