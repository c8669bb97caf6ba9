// Builds the harness page (e2e/harness/page.tsx) into e2e/harness/dist/harness.js.
const path = require('path');

const runtimeEsm = path.dirname(require.resolve('@grafana/runtime')).replace(/cjs$/, 'esm');

module.exports = {
  mode: 'development',
  devtool: false,
  entry: path.resolve(__dirname, 'page.tsx'),
  output: { path: path.resolve(__dirname, 'dist'), filename: 'harness.js', publicPath: '/harness/' },
  resolve: {
    extensions: ['.tsx', '.ts', '.mjs', '.js'],
    alias: {
      // One copy of @grafana/runtime (the ESM build), so setPluginPage reaches the PluginPage the plugin renders.
      '@grafana/runtime/dist/esm/components/PluginPage.mjs': path.join(runtimeEsm, 'components', 'PluginPage.mjs'),
      '@grafana/runtime$': path.join(runtimeEsm, 'index.mjs'),
    },
  },
  module: {
    rules: [
      {
        test: /\.tsx?$/,
        exclude: /node_modules/,
        use: {
          loader: 'swc-loader',
          options: {
            jsc: {
              parser: { syntax: 'typescript', tsx: true },
              target: 'es2020',
              transform: { react: { runtime: 'automatic' } },
            },
          },
        },
      },
      { test: /\.m?js$/, resolve: { fullySpecified: false } },
      { test: /\.css$/, use: ['style-loader', 'css-loader'] },
      { test: /\.(png|jpe?g|gif|svg|woff2?|ttf|eot)$/, type: 'asset/resource' },
    ],
  },
  performance: { hints: false },
  stats: 'errors-warnings',
};
