// The interface's words in English and Korean. t(key, ...args): a string, or a function
// of args. The language: ?lang=ko|en (remembered), the saved setting, else the browser's.
const en = {
  appName: "omni", login: "Log in", signup: "Sign up", logout: "Log out", email: "Email", password: "Password",
  name: "Name", noAccount: "No account yet? Sign up", haveAccount: "Have an account? Log in",
  pending: "Your account waits for an admin's approval.", newChat: "New chat", search: "Search chats",
  pinned: "Pinned", today: "Today", yesterday: "Yesterday", prev7: "Previous 7 days", prev30: "Previous 30 days",
  older: "Older", archived: "Archived", showArchived: "Archived chats", backToChats: "Back to chats",
  rename: "Rename", pin: "Pin", unpin: "Unpin", archive: "Archive", unarchive: "Unarchive", del: "Delete",
  share: "Share", options: (t) => `Options for ${t}`, confirmDelete: (t) => `Delete “${t}”?`,
  untitled: "New chat", empty: "How can I help you today?", placeholder: "Message omni",
  send: "Send", stop: "Stop", attach: "Attach files", you: "You", edit: "Edit", save: "Save & submit", cancel: "Cancel",
  copy: "Copy", copied: "Copied", readAloud: "Read aloud", regenerate: "Regenerate", prevBranch: "Previous version",
  nextBranch: "Next version", good: "Good response", bad: "Bad response", thinking: "Thinking…", thought: "Thinking",
  think: "Let the model think before answering", model: "Model", settings: "Settings", memory: "Memory",
  admin: "Admin", general: "General", personalization: "Personalization", apiKeys: "API keys", account: "Account",
  theme: "Theme", light: "Light", dark: "Dark", system: "System", language: "Language", defaultModel: "Default model",
  voice: "Voice", aboutMe: "What should omni know about you?", responseStyle: "How should omni respond?",
  memoryOn: "Let omni remember things across chats", memoryEmpty: "Nothing remembered yet.",
  memoryAdd: "Add a memory", memoryUpdated: "Memory updated", deleteAll: "Delete all",
  keyName: "Key name", createKey: "Create key", keyOnce: "Copy this key now: it is not shown again.",
  revoke: "Revoke", revoked: "revoked", exportData: "Export my data", deleteAccount: "Delete account",
  confirmDeleteAccount: "Delete your account and everything in it? This cannot be undone.",
  users: "Users", role: "Role", tier: "Tier", usage: "Usage", loadedModels: "Loaded models", close: "Close",
  limitReached: (reset) => `You have reached your message limit${reset ? `; it resets at ${reset}` : ""}.`,
  useModel: (m) => `Continue with ${m}`, left: (n, l) => `${n}/${l} left`, resets: (t) => `resets ${t}`,
  unlimited: "unlimited", tokens: (n) => `${n} tokens`, speed: (s) => `${s} tokens/s`,
  fbReason: "What was wrong?", fbComment: "Comment (optional)", fbSend: "Send feedback", fbThanks: "Thanks for the feedback",
  fbReasons: ["Not factual", "Did not follow instructions", "Too long", "Unsafe", "Other"],
  shareCopied: "Share link copied", sharedView: "Shared conversation (read-only)", shareNotFound: "This shared link does not exist.",
  transcribing: "transcribing…", noImages: "This model does not take images.", reading: "reading…", pages: (n) => (n === 1 ? "1 page" : `${n} pages`),
  voiceMode: "Voice mode", menu: "Chats", left_out: (n) => `${n} earlier message${n > 1 ? "s were" : " was"} left out to fit the model's context`,
  earlier: (n) => `Show earlier messages (${n})`, error: "Error", serverDown: "server unavailable", shortcuts: "Shortcuts: Ctrl+Shift+O new chat · Ctrl+K search · Esc stop",
};
const ko = {
  appName: "omni", login: "로그인", signup: "가입하기", logout: "로그아웃", email: "이메일", password: "비밀번호",
  name: "이름", noAccount: "계정이 없나요? 가입하기", haveAccount: "계정이 있나요? 로그인",
  pending: "관리자의 승인을 기다리고 있습니다.", newChat: "새 채팅", search: "채팅 검색",
  pinned: "고정됨", today: "오늘", yesterday: "어제", prev7: "지난 7일", prev30: "지난 30일", older: "이전",
  archived: "보관됨", showArchived: "보관된 채팅", backToChats: "채팅 목록으로",
  rename: "이름 바꾸기", pin: "고정", unpin: "고정 해제", archive: "보관", unarchive: "보관 해제", del: "삭제",
  share: "공유", options: (t) => `${t} 옵션`, confirmDelete: (t) => `“${t}”을(를) 삭제할까요?`,
  untitled: "새 채팅", empty: "무엇을 도와드릴까요?", placeholder: "omni에게 메시지 보내기",
  send: "보내기", stop: "중지", attach: "파일 첨부", you: "나", edit: "편집", save: "저장 후 보내기", cancel: "취소",
  copy: "복사", copied: "복사됨", readAloud: "소리 내어 읽기", regenerate: "다시 생성", prevBranch: "이전 버전",
  nextBranch: "다음 버전", good: "좋은 응답", bad: "나쁜 응답", thinking: "생각하는 중…", thought: "생각 과정",
  think: "답하기 전에 모델이 생각하게 하기", model: "모델", settings: "설정", memory: "메모리",
  admin: "관리", general: "일반", personalization: "개인 맞춤", apiKeys: "API 키", account: "계정",
  theme: "테마", light: "밝게", dark: "어둡게", system: "시스템", language: "언어", defaultModel: "기본 모델",
  voice: "음성", aboutMe: "omni가 당신에 대해 알아야 할 것은?", responseStyle: "omni가 어떻게 답하면 좋을까요?",
  memoryOn: "채팅 사이에 omni가 기억하도록 허용", memoryEmpty: "아직 기억한 것이 없습니다.",
  memoryAdd: "메모리 추가", memoryUpdated: "메모리 업데이트됨", deleteAll: "모두 삭제",
  keyName: "키 이름", createKey: "키 만들기", keyOnce: "지금 이 키를 복사하세요. 다시 보여주지 않습니다.",
  revoke: "폐기", revoked: "폐기됨", exportData: "내 데이터 내보내기", deleteAccount: "계정 삭제",
  confirmDeleteAccount: "계정과 모든 데이터를 삭제할까요? 되돌릴 수 없습니다.",
  users: "사용자", role: "역할", tier: "등급", usage: "사용량", loadedModels: "불러온 모델", close: "닫기",
  limitReached: (reset) => `메시지 한도에 도달했습니다${reset ? ` (${reset}에 초기화)` : ""}.`,
  useModel: (m) => `${m}(으)로 계속하기`, left: (n, l) => `${n}/${l} 남음`, resets: (t) => `${t} 초기화`,
  unlimited: "무제한", tokens: (n) => `토큰 ${n}개`, speed: (s) => `초당 ${s} 토큰`,
  fbReason: "무엇이 문제였나요?", fbComment: "의견 (선택)", fbSend: "피드백 보내기", fbThanks: "피드백 감사합니다",
  fbReasons: ["사실이 아님", "지시를 따르지 않음", "너무 김", "안전하지 않음", "기타"],
  shareCopied: "공유 링크를 복사했습니다", sharedView: "공유된 대화 (읽기 전용)", shareNotFound: "이 공유 링크는 없습니다.",
  transcribing: "받아쓰는 중…", noImages: "이 모델은 이미지를 받지 않습니다.", reading: "읽는 중…", pages: (n) => `${n}쪽`,
  voiceMode: "음성 모드", menu: "채팅 목록", left_out: (n) => `모델의 컨텍스트에 맞추려고 앞의 메시지 ${n}개를 뺐습니다`,
  earlier: (n) => `이전 메시지 보기 (${n}개)`, error: "오류", serverDown: "서버에 연결할 수 없음", shortcuts: "단축키: Ctrl+Shift+O 새 채팅 · Ctrl+K 검색 · Esc 중지",
};
const STR = { en, ko };
// A page's own strings ({en: {...}, ko: {...}}), merged in by its module.
export function addStrings(more) { for (const l of Object.keys(more)) if (STR[l]) Object.assign(STR[l], more[l]); }

function initial() {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "ko" || q === "en") { try { localStorage.setItem("omni.lang", q); } catch {} return q; }
  let saved = null;
  try { saved = localStorage.getItem("omni.lang"); } catch {}
  if (saved === "ko" || saved === "en") return saved;
  return (navigator.language || "").toLowerCase().startsWith("ko") ? "ko" : "en";
}
export let LANG = initial();
export function setLang(l) {
  if (l !== "ko" && l !== "en") return;
  LANG = l;
  try { localStorage.setItem("omni.lang", l); } catch {}
  document.documentElement.lang = l;
}
export function t(key, ...args) {
  const v = STR[LANG][key] ?? en[key] ?? key;
  return typeof v === "function" ? v(...args) : v;
}
document.documentElement.lang = LANG;

