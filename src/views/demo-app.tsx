import { Layout } from './layout';

export interface DemoAppProps {
  issuer: string;
  clientId: string;
  redirectUri: string;
}

/**
 * The shell of the demo single-page app. All behaviour is in /demo/app.js (a
 * static asset): no inline script, so the page keeps the strict CSP.
 */
export function DemoAppPage(props: DemoAppProps) {
  return (
    <Layout title="Reading list (demo app)">
      <div id="app" data-issuer={props.issuer} data-client-id={props.clientId} data-redirect-uri={props.redirectUri}>
        <p id="status" role="status" />
        <section id="signed-out">
          <p>This single-page app signs in with Tollgate and keeps your reading list through the books API.</p>
          <button type="button" id="sign-in">
            Sign in with Tollgate
          </button>
        </section>
        <section id="signed-in" hidden>
          <p>
            Signed in as <strong id="who" />.
          </p>
          <h2>Your books</h2>
          <p id="empty">No books yet.</p>
          <ul id="books" />
          <form id="add-book">
            <p class="field">
              <label for="title">Title</label>
              <input id="title" name="title" required />
            </p>
            <p class="field">
              <label for="author">Author</label>
              <input id="author" name="author" required />
            </p>
            <div class="actions">
              <button type="submit">Add book</button>
              <button type="button" id="reload" class="secondary">
                Reload books
              </button>
              <button type="button" id="sign-out" class="secondary">
                Sign out
              </button>
            </div>
          </form>
        </section>
      </div>
      <script type="module" src="/demo/app.js" />
    </Layout>
  );
}
