import { Layout } from './layout';

/** Shown instead of a redirect when the client or redirect URI cannot be trusted. */
export function ErrorPage({ title, message }: { title: string; message: string }) {
  return (
    <Layout title={title}>
      <p role="alert">{message}</p>
    </Layout>
  );
}
