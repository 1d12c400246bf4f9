// The aedes persistences ship no type declarations; they are used only
// through the small casts in broker/persistence.ts.
declare module 'aedes-persistence-redis' {
  const factory: unknown;
  export default factory;
}
