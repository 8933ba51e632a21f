/** Vite's `?raw` imports: a file's text (test/keys.test.ts reads wrangler.toml's crons). */
declare module '*?raw' {
  const text: string;
  export default text;
}
