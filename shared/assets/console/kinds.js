// Channel kinds and their settings forms: every field of each kind's settings struct
// (shared/src/platforms/<kind>/settings.rs), with a short help text and, where there is one,
// the platform's own page that says where to find the value.
//
// Each field: `name` (the settings key the API and the docs use), `label` (a human name in
// both languages), `help`, and `link` where the platform says where to find it.
// Field types: text, secret (write-only: the API shows "********"), url, bool, list
// (comma-separated, sent as an array), number, json (an object). `learned`: Herald fills it
// in when it registers the channel; the form shows it read-only and never sends it.

const h = (en, zh) => ({en, 'zh-CN': zh});

const whitelists = (who, zhWho) => [
  {name: 'user_whitelist', label: h('Allowed users', '允许的用户'), type: 'list', help: h(`Only these ${who} user ids may use the bot (comma-separated; empty: everyone).`, `只有这些${zhWho}用户 ID 可以使用机器人（逗号分隔；留空为所有人）。`)},
  {name: 'admin_whitelist', label: h('Admins', '管理员'), type: 'list', help: h(`These ${who} user ids are admins on this channel, bound or not.`, `这些${zhWho}用户 ID 在此渠道上是管理员，无论是否绑定。`)},
];

export const KINDS = {
  telegram: {
    label: 'Telegram',
    docs: 'https://core.telegram.org/bots#how-do-i-create-a-bot',
    registers: true,
    fields: [
      {name: 'bot_token', label: h('Bot token', '机器人令牌'), type: 'secret', required: true, link: 'https://core.telegram.org/bots#how-do-i-create-a-bot',
        help: h('The token @BotFather gives for your bot (/newbot), like 123456:ABC…', '@BotFather 为机器人生成的令牌（/newbot），形如 123456:ABC…')},
      {name: 'chat_id', label: h('Default chat', '默认会话'), type: 'text',
        help: h('Default group or chat for admin and "all" notifications: a numeric chat id (groups start with -100) or @channelname.', '管理员与"所有人"通知的默认群组或会话：数字 chat id（群组以 -100 开头）或 @频道名。')},
      {name: 'bot_username', label: h('Bot username', '机器人用户名'), type: 'text', learned: true,
        help: h('The bot\'s username, learned when the channel is registered (used for deep links).', '机器人用户名，注册渠道时自动获取（用于深度链接）。')},
      ...whitelists('Telegram', ' Telegram '),
      {name: 'group_quiet', label: h('Quiet in groups', '群组中保持安静'), type: 'bool',
        help: h('In groups, answer only commands addressed to the bot.', '在群组中只回应发给本机器人的命令。')},
      {name: 'group_bound_only', label: h('Bound members only', '仅限已绑定成员'), type: 'bool',
        help: h('Remove group members who join without a bound account, and members who unbind.', '移出未绑定账号就加入群组的成员，以及解除绑定的成员。')},
      {name: 'topics', label: h('Topics per type', '各类型的话题'), type: 'json', link: 'https://core.telegram.org/bots/api#sendmessage',
        help: h('Forum topic (message_thread_id) per notification type in the default group, e.g. {"node": 7}.', '默认群组中每种通知类型的话题（message_thread_id），例如 {"node": 7}。')},
      {name: 'api_base', label: h('Bot API address', 'Bot API 地址'), type: 'url', link: 'https://core.telegram.org/bots/api#using-a-local-bot-api-server',
        help: h('Replaces https://api.telegram.org (a Bot API proxy). Empty: Telegram itself.', '替代 https://api.telegram.org（Bot API 代理）。留空则直连 Telegram。')},
      {name: 'webhook_secret', label: h('Webhook secret', 'Webhook 密钥'), type: 'secret', learned: true, link: 'https://core.telegram.org/bots/api#setwebhook',
        help: h('The secret_token Herald registers with setWebhook; Herald makes it.', 'Herald 通过 setWebhook 注册的 secret_token，由 Herald 生成。')},
    ],
  },
  wecom: {
    label: 'WeCom 企业微信',
    docs: 'https://developer.work.weixin.qq.com/document/path/90665',
    registers: true,
    fields: [
      {name: 'corp_id', label: h('Corp ID', '企业 ID'), type: 'text', required: true, link: 'https://developer.work.weixin.qq.com/document/path/90665',
        help: h('Your company\'s CorpID (My company → Company info).', '企业 ID（我的企业 → 企业信息 → 企业ID）。')},
      {name: 'agent_id', label: h('App AgentId', '应用 AgentId'), type: 'number', required: true, link: 'https://developer.work.weixin.qq.com/document/path/90665',
        help: h('The self-built app\'s AgentId (App management → the app).', '自建应用的 AgentId（应用管理 → 该应用）。')},
      {name: 'secret', label: h('App secret', '应用 Secret'), type: 'secret', required: true, link: 'https://developer.work.weixin.qq.com/document/path/90665',
        help: h('The app\'s Secret, on the same page as its AgentId.', '应用的 Secret，与 AgentId 在同一页面。')},
      {name: 'token', label: h('Callback token', '回调 Token'), type: 'secret', link: 'https://developer.work.weixin.qq.com/document/path/90930',
        help: h('Callback Token (the app → Receive messages → Set API receiving); needed to receive, goes with EncodingAESKey.', '回调 Token（应用 → 接收消息 → 设置API接收）；接收消息时需要，与 EncodingAESKey 一起填写。')},
      {name: 'encoding_aes_key', label: h('Callback EncodingAESKey', '回调 EncodingAESKey'), type: 'secret', link: 'https://developer.work.weixin.qq.com/document/path/90930',
        help: h('The 43-character EncodingAESKey from the same page.', '同一页面上 43 个字符的 EncodingAESKey。')},
      {name: 'admin_whitelist', label: h('Admin members', '管理员成员'), type: 'list',
        help: h('Member userids who are admins on this channel (and may use the menu\'s admin items).', '在此渠道上作为管理员的成员 userid（可使用菜单中的管理功能）。')},
      {name: 'api_base', label: h('API proxy', 'API 代理'), type: 'url',
        help: h('A fixed-IP proxy in front of https://qyapi.weixin.qq.com (for trusted IPs, like WECHAT_PROXY).', '指向 https://qyapi.weixin.qq.com 的固定 IP 代理（用于企业可信IP，同 WECHAT_PROXY）。')},
    ],
  },
  slack: {
    label: 'Slack',
    docs: 'https://api.slack.com/apps',
    registers: true,
    fields: [
      {name: 'bot_token', label: h('Bot token', '机器人令牌'), type: 'secret', required: true, link: 'https://api.slack.com/authentication/token-types#bot',
        help: h('Bot User OAuth Token (xoxb-…), under OAuth & Permissions once the app is installed.', 'Bot User OAuth Token（xoxb-…），安装应用后在 OAuth & Permissions 中。')},
      {name: 'signing_secret', label: h('Signing secret', '签名密钥'), type: 'secret', link: 'https://api.slack.com/authentication/verifying-requests-from-slack',
        help: h('Signing Secret (Basic Information → App Credentials). Without it the app only sends.', 'Signing Secret（Basic Information → App Credentials）。不填则只能发送。')},
      {name: 'channel', label: h('Default channel', '默认频道'), type: 'text',
        help: h('Default conversation for admin and "all" notifications: a C… id or #name.', '管理员与"所有人"通知的默认会话：C… ID 或 #频道名。')},
      ...whitelists('Slack (U…)', ' Slack（U…）'),
      {name: 'bot_user_id', label: h('Bot user ID', '机器人用户 ID'), type: 'text', learned: true,
        help: h('The bot\'s user id, learned from auth.test when registered.', '机器人的用户 ID，注册时通过 auth.test 获取。')},
      {name: 'team_id', label: h('Workspace ID', '工作区 ID'), type: 'text', learned: true,
        help: h('The workspace (T…), learned with the bot\'s user id.', '工作区 ID（T…），与机器人用户 ID 一起获取。')},
      {name: 'api_base', label: h('API address', 'API 地址'), type: 'url',
        help: h('Replaces https://slack.com/api (a proxy). Empty: Slack itself.', '替代 https://slack.com/api（代理）。留空则直连 Slack。')},
    ],
  },
  discord: {
    label: 'Discord',
    docs: 'https://discord.com/developers/applications',
    registers: true,
    fields: [
      {name: 'bot_token', label: h('Bot token', '机器人令牌'), type: 'secret', required: true, link: 'https://discord.com/developers/applications',
        help: h('The bot\'s token: the application\'s Bot page → Reset Token.', '机器人令牌：应用的 Bot 页面 → Reset Token。')},
      {name: 'application_id', label: h('Application ID', '应用 ID'), type: 'text', link: 'https://discord.com/developers/applications',
        help: h('General Information → Application ID (needed for slash commands).', 'General Information → Application ID（注册斜杠命令需要）。')},
      {name: 'public_key', label: h('Public key', '公钥'), type: 'text', link: 'https://discord.com/developers/applications',
        help: h('General Information → Public Key (64 hex digits). Without it the channel only sends.', 'General Information → Public Key（64 位十六进制）。不填则只能发送。')},
      {name: 'channel_id', label: h('Default channel', '默认频道'), type: 'text', link: 'https://support.discord.com/hc/en-us/articles/206346498',
        help: h('Default channel for admin and "all" notifications (Developer Mode → right-click → Copy ID).', '管理员与"所有人"通知的默认频道（开发者模式 → 右键 → 复制 ID）。')},
      {name: 'guild_id', label: h('Server ID', '服务器 ID'), type: 'text', link: 'https://support.discord.com/hc/en-us/articles/206346498',
        help: h('A server id: slash commands are registered there, at once, rather than globally.', '服务器 ID：斜杠命令注册到该服务器（立即生效），而不是全局。')},
      ...whitelists('Discord', ' Discord '),
      {name: 'api_base', label: h('API address', 'API 地址'), type: 'url',
        help: h('Replaces https://discord.com/api/v10 (a proxy). Empty: Discord itself.', '替代 https://discord.com/api/v10（代理）。留空则直连 Discord。')},
    ],
  },
  synology: {
    label: 'Synology Chat',
    docs: 'https://kb.synology.com/en-global/DSM/help/Chat/chat_integration',
    fields: [
      {name: 'incoming_url', label: h('Incoming webhook URL', '传入 Webhook URL'), type: 'secret', link: 'https://kb.synology.com/en-global/DSM/help/Chat/chat_integration',
        help: h('Integration → Incoming Webhooks: the channel\'s webhook URL (it holds a token) for admin and "all" notifications.', '整合 → 传入 Webhook：频道的 Webhook URL（含令牌），用于管理员与"所有人"通知。')},
      {name: 'bot_token', label: h('Bot token', '机器人令牌'), type: 'secret', link: 'https://kb.synology.com/en-global/DSM/help/Chat/chat_integration',
        help: h('Integration → Bots: the bot\'s token, for messages to users.', '整合 → 机器人：机器人的令牌，用于给用户发消息。')},
      {name: 'outgoing_token', label: h('Outgoing token', '传出令牌'), type: 'secret', link: 'https://kb.synology.com/en-global/DSM/help/Chat/chat_integration',
        help: h('The token Synology sends with each bot request (the bot\'s token, or an outgoing webhook\'s). Needed to receive.', 'Synology 在每个机器人请求中附带的令牌（机器人令牌或传出 Webhook 的令牌）。接收消息时需要。')},
      {name: 'api_base', label: h('NAS address', 'NAS 地址'), type: 'url',
        help: h('The NAS, e.g. https://nas.example.com:5001 (needed for the bot\'s messages).', 'NAS 地址，例如 https://nas.example.com:5001（机器人发消息需要）。')},
      ...whitelists('Synology Chat', ' Synology Chat '),
    ],
  },
  vocechat: {
    label: 'VoceChat',
    docs: 'https://doc.voce.chat/',
    fields: [
      {name: 'server_url', label: h('Server URL', '服务器地址'), type: 'url', required: true, link: 'https://doc.voce.chat/',
        help: h('The VoceChat server, e.g. https://chat.example.com.', 'VoceChat 服务器，例如 https://chat.example.com。')},
      {name: 'api_key', label: h('Bot API key', '机器人 API Key'), type: 'secret', required: true, link: 'https://doc.voce.chat/',
        help: h('Settings → Bot & Webhook → the bot\'s API key.', '设置 → 机器人与 Webhook → 机器人的 API Key。')},
      {name: 'group_id', label: h('Default group', '默认群组'), type: 'text',
        help: h('Default group (a number) for admin and "all" notifications.', '管理员与"所有人"通知的默认群组（数字）。')},
      {name: 'webhook_secret', label: h('Webhook secret', 'Webhook 密钥'), type: 'secret',
        help: h('16 to 256 characters of A-Z a-z 0-9 _ -; put it as token= in the bot\'s webhook URL (the callback URL below). Needed to receive.', '16 到 256 个 A-Z a-z 0-9 _ - 字符；作为 token= 填入机器人的 Webhook URL（见下方回调地址）。接收消息时需要。')},
      {name: 'bot_uid', label: h('Bot user ID', '机器人用户 ID'), type: 'text',
        help: h('The bot\'s own user id: its messages are ignored.', '机器人自己的用户 ID：忽略它发出的消息。')},
      ...whitelists('VoceChat', ' VoceChat '),
    ],
  },
  webpush: {
    label: 'Web Push',
    docs: 'https://www.rfc-editor.org/rfc/rfc8292',
    fields: [
      {name: 'subject', label: h('Contact', '联系地址'), type: 'text', required: true, link: 'https://www.rfc-editor.org/rfc/rfc8292#section-2.1',
        help: h('A mailto: or https: contact the push services may write to.', '推送服务可联系的 mailto: 或 https: 地址。')},
      {name: 'vapid_public_key', label: h('VAPID public key', 'VAPID 公钥'), type: 'text', link: 'https://www.rfc-editor.org/rfc/rfc8292#section-3.2',
        help: h('Uncompressed P-256 public key, base64url. Leave both keys empty to have a pair made.', '未压缩的 P-256 公钥，base64url。两个密钥都留空则自动生成。')},
      {name: 'vapid_private_key', label: h('VAPID private key', 'VAPID 私钥'), type: 'secret',
        help: h('The matching P-256 private key (32 bytes), base64url.', '对应的 P-256 私钥（32 字节），base64url。')},
      {name: 'api_base', label: h('Push service address', '推送服务地址'), type: 'url',
        help: h('Only for tests and private push services: endpoints under it are accepted too.', '仅用于测试和私有推送服务：也接受其下的推送端点。')},
    ],
  },
  webhook: {
    label: 'Webhook',
    docs: null,
    fields: [
      {name: 'url', label: h('URL', '地址'), type: 'url', required: true,
        help: h('Where Herald POSTs each notification as JSON. The path and query are shown masked once saved.', 'Herald 以 JSON POST 每条通知的地址。保存后路径和查询参数会被遮盖显示。')},
      {name: 'secret', label: h('Signing secret', '签名密钥'), type: 'secret',
        help: h('Signs each body: X-Herald-Signature: sha256=<HMAC-SHA256 of the body>.', '为每个请求体签名：X-Herald-Signature: sha256=<请求体的 HMAC-SHA256>。')},
      {name: 'headers', label: h('Extra headers', '额外请求头'), type: 'json',
        help: h('Extra headers, e.g. {"Authorization": "Bearer …"}. Values are kept secret (shown as ********; leave them to keep them).', '额外请求头，例如 {"Authorization": "Bearer …"}。值按密钥保存（显示为 ********，保持不变即保留）。')},
    ],
  },
};

export const KIND_NAMES = Object.keys(KINDS);
