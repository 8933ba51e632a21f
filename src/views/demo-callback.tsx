import { Layout } from './layout';

/** Where the seeded demo client lands: shows the code so the walkthrough can trade it with curl. */
export function DemoCallbackPage(props: {
  code?: string | undefined;
  state?: string | undefined;
  error?: string | undefined;
  iss?: string | undefined;
}) {
  return (
    <Layout title="Demo client callback">
      {props.error ? (
        <p role="alert">
          The authorization server answered <code>{props.error}</code>.
        </p>
      ) : (
        <>
          <p>The authorization server sent this demo client an authorization code. It is valid for two minutes, once.</p>
          <p>
            <label for="code">Authorization code</label>
            <input id="code" readonly value={props.code ?? ''} />
          </p>
        </>
      )}
      <p class="meta">
        state: <code>{props.state ?? '(none)'}</code> · iss: <code>{props.iss ?? '(none)'}</code>
      </p>
      <p>Trade the code at the token endpoint with the command `npm start` printed.</p>
    </Layout>
  );
}
